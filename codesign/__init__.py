"""codesign: fault-tolerant quantized neural networks on chip (QKeras -> bit-exact IR -> sim / HLS / RTL)."""

__version__ = "0.1.0"

from codesign.errors import CodesignError  # noqa: E402

__all__ = ["CodesignError", "__version__"]
