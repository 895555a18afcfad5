"""The command-line shell: `dsync` and every command of it, one module per command (or per
family of commands), each registering its parser and its handler (dsync.shell.command).

The shell is the top layer: it may import the processes (`worker`, `webhook_ingress`) and
the kernel (the rest of `dsync`), and nothing imports it but `dsync.__main__`. The layers
are checked by import-linter (pyproject.toml, `make lint`)."""
