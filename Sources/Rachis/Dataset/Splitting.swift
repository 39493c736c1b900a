/// Seeded, class-stratified splits of subjects: k folds, or a hold-out split.
///
/// Subjects are stratified by their most severe annotated vertebra class (the largest class index present; "none"
/// for subjects without classes), so every fold sees every kind of subject. Within a stratum the order is a seeded
/// shuffle; subjects are dealt round-robin, continuing across strata, so fold sizes differ by at most one.
public enum Splitting {
    public struct Member: Sendable {
        public var id: String
        /// The stratum: the largest annotated class index, or nil for subjects without classes.
        public var stratum: Int?
        public init(id: String, stratum: Int?) { (self.id, self.stratum) = (id, stratum) }
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case tooFewSubjects(subjects: Int, needed: Int)
        case invalidFraction(String)

        public var description: String {
            switch self {
            case let .tooFewSubjects(subjects, needed): "\(subjects) subjects cannot be split \(needed) ways"
            case let .invalidFraction(message): message
            }
        }
    }

    public static func stratum(of vertebrae: [VertebraRecord]) -> Int? {
        vertebrae.compactMap(\.classIndex).max()
    }

    /// The members in dealing order: strata in order (none first), each shuffled with the seed.
    static func dealingOrder(_ members: [Member], seed: UInt64) -> [String] {
        let strata = Dictionary(grouping: members, by: { $0.stratum ?? -1 })
        var rng = SplitMix64(seed: seed, stream: 0x5b1e)
        return strata.keys.sorted().flatMap { key in
            var ids = strata[key]!.map(\.id).sorted()
            for i in stride(from: ids.count - 1, to: 0, by: -1) {
                ids.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
            return ids
        }
    }

    /// k folds: fold i validates on its share and trains on the rest.
    public static func folds(_ members: [Member], k: Int, seed: UInt64) throws -> [Split] {
        guard k >= 2, members.count >= k else { throw Error.tooFewSubjects(subjects: members.count, needed: Swift.max(k, 2)) }
        var buckets = [[String]](repeating: [], count: k)
        for (i, id) in dealingOrder(members, seed: seed).enumerated() { buckets[i % k].append(id) }
        return (0..<k).map { fold in
            Split(name: "fold_\(fold)", train: (0..<k).filter { $0 != fold }.flatMap { buckets[$0] }.sorted(),
                  val: buckets[fold].sorted(), method: "stratified \(k)-fold, seed \(seed), fold \(fold)")
        }
    }

    /// One hold-out split with the given validation and test fractions (each stratum split in proportion).
    public static func holdout(_ members: [Member], val: Double, test: Double, seed: UInt64, name: String = "holdout") throws -> Split {
        guard val > 0, test >= 0, val + test < 1 else {
            throw Error.invalidFraction("validation (\(val)) and test (\(test)) fractions must be positive and sum to less than 1")
        }
        let needed = test > 0 ? 3 : 2
        guard members.count >= needed else { throw Error.tooFewSubjects(subjects: members.count, needed: needed) }
        // Proportional dealing along the stratified order: each subject goes to the part that is furthest behind its
        // share so far, so every stratum is split in proportion and the totals match the fractions.
        let shares = [1 - val - test, val, test]
        var parts: [[String]] = [[], [], []]
        for (i, id) in dealingOrder(members, seed: seed).enumerated() {
            let deficits = (0..<3).map { shares[$0] * Double(i + 1) - Double(parts[$0].count) }
            parts[deficits.indices.max { deficits[$0] < deficits[$1] }!].append(id)
        }
        for part in [1, 2] where parts[part].isEmpty && shares[part] > 0 { parts[part].append(parts[0].removeLast()) }
        let (train, valIDs, testIDs) = (parts[0], parts[1], parts[2])
        return Split(name: name, train: train.sorted(), val: valIDs.sorted(), test: testIDs.sorted(),
                     method: "stratified hold-out, validation \(val), test \(test), seed \(seed)")
    }
}
