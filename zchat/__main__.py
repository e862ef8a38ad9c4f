from zchat.cli import main

main()
