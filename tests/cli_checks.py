"""Assertions shared by the tests that run the ``codesign`` command line as a subprocess."""


def assert_user_error(proc, *fragments):
    """A user error: exit 2, nothing on stdout, exactly one ``error: …`` line on stderr, never a traceback."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == "", proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
