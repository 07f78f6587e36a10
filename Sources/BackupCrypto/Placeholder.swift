import BackupCore
