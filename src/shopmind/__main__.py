from shopmind.cli import main

main()
