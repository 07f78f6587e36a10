print("gwbackup")
