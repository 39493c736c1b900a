import Foundation

/// Why `rachis report` cannot build a report; each names the files involved.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    case sourceMissing(prediction: String, source: String)
    case unknownSubject(prediction: String, dataset: String, subject: String)
    case geometryMismatch(prediction: String, image: String, found: [Int], expected: [Int])
    case subjectMismatch(prediction: String, found: String)
    case evaluation(path: String, reason: String)
    case outputNotAFolder(path: String)

    public var description: String {
        switch self {
        case let .sourceMissing(prediction, source):
            "\(prediction): its source image \(source) does not exist; the report draws the image the prediction was made from"
        case let .unknownSubject(prediction, dataset, subject):
            "\(prediction): subject \(subject) is not in its source dataset \(dataset)"
        case let .geometryMismatch(prediction, image, found, expected):
            "\(image) has shape \(Self.shape(found)), but \(prediction) was predicted on shape \(Self.shape(expected)): is it the image the prediction was made from?"
        case let .subjectMismatch(prediction, found):
            "\(prediction) holds subject \"\(found)\", not the subject its file name says: rename it <subject>.json"
        case let .evaluation(path, reason):
            "\(path) is not a Rachis evaluation: \(reason)"
        case let .outputNotAFolder(path):
            "\(path) exists and is not a folder: choose another --out"
        }
    }

    static func shape(_ s: [Int]) -> String { s.map(String.init).joined(separator: "x") }
}
