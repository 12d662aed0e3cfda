/// The release of this build, printed by `portico --version` and recorded in every backup manifest.
public enum PorticoVersion {
    public static let current = "0.5.0"
}
