from prodloop.cli.main import main

main()
