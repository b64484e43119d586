"""The command layer's use cases: each one prepares what it needs, runs the compute packages, and writes its part of
the design's output tree through the :class:`codesign.workspace.Workspace` (plots included). The CLI and the
design-space exploration call these; compute packages never build paths or draw plots."""
