from dsync.cli import main

main()
