from spreadwatch.cli import main

main()
