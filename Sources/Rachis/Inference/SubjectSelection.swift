/// Which subjects of a dataset a command works on: named ones, or one part of a split.
public enum SubjectSelection {
    public enum Part: String, CaseIterable, Sendable { case train, val, test, all }

    /// `subjects` when given (each must exist); otherwise the `part` of split `split` (all subjects for `.all`).
    public static func ids(_ reader: DatasetReader, split: String, part: Part, subjects: [String] = []) throws -> [String] {
        if !subjects.isEmpty {
            for id in subjects where !reader.subjectIDs.contains(id) {
                throw DatasetError.unknownSubject(file: reader.url.path, id: id, known: reader.subjectIDs.count)
            }
            return subjects
        }
        if part == .all { return reader.subjectIDs }
        let splits = try reader.splits()
        guard let found = splits.first(where: { $0.name == split }) else {
            throw LoaderError.unknownSplit(file: reader.url.path, split: split, available: splits.map(\.name))
        }
        let ids = switch part {
        case .train: found.train
        case .val: found.val
        case .test: found.test
        case .all: reader.subjectIDs
        }
        guard !ids.isEmpty else { throw LoaderError.emptySplit(file: reader.url.path, split: split, part: part.rawValue) }
        return ids
    }
}
