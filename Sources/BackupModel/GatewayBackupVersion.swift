/// The version of this build, recorded in every backup.
public enum GatewayBackupVersion {
    public static let current = "0.2.0"
}
