"""The Verilog emitters of :mod:`codesign.rtl.generate`, one module per part of the design.

- :mod:`~codesign.rtl.emit.layout` — names and widths shared by the top, the datapath and the summary;
- :mod:`~codesign.rtl.emit.weights` — the top's weight register files and split TMR words;
- :mod:`~codesign.rtl.emit.datapath` — the datapath module (valid pipeline, one register stage per computing layer);
- :mod:`~codesign.rtl.emit.stages` — dispatch by layer kind to the emitter of the layer's stage:
  :mod:`~codesign.rtl.emit.mac` (dense, conv2d; :mod:`~codesign.rtl.emit.saf` for kernel tables),
  :mod:`~codesign.rtl.emit.activation`, :mod:`~codesign.rtl.emit.threshold`, :mod:`~codesign.rtl.emit.batchnorm`;
- :mod:`~codesign.rtl.emit.temp` (fixed-point steps on a signed temporary) and :mod:`~codesign.rtl.emit.writer`
  (Verilog text helpers), shared by the emitters.

The emitters never import :mod:`codesign.rtl.generate`, which holds the public API and the orchestration.
"""
