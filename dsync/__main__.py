from dsync.shell.cli import main

main()
