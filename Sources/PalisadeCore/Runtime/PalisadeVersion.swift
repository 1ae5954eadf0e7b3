public enum PalisadeVersion {
    public static let current = "0.1.0"
}
