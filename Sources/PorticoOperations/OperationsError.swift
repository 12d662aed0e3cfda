/// Why an operation (backup, restore, move, doctor, export, import) failed, with what to do about it.
/// The message never holds secrets: URLs are shown with their passwords redacted.
public struct OperationsError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
