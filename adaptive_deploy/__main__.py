from adaptive_deploy.cli.main import main

main()
