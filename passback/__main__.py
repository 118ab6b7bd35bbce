from passback.cli import main

main()
