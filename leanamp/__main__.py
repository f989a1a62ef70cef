from leanamp.cli import main

main()
