/// Per ground-truth level, which level the vertebra paired with it was given, and whether its class was right: read
/// from the classification pairs of an evaluation (`SubjectClassification`: each ground-truth vertebra with a class
/// paired one-to-one with the nearest predicted vertebra within the pairing distance, regardless of level; the rest
/// missed). This is the pairing rule, not VerSe's identification rule: it says which levels are confused with which.
public struct LevelAgreement: Equatable, Sendable {
    public struct Level: Equatable, Sendable {
        /// 0 for a level name this version does not know.
        public var levelID: Int
        public var level: String
        /// Ground-truth vertebrae of this level with a class: paired plus missed.
        public var truth: Int
        /// Paired with a predicted vertebra of the same level.
        public var sameLevel: Int
        /// The other levels given to the paired vertebrae, with how often, most frequent first (ties cranial first).
        public var confusedWith: [(level: String, count: Int)]
        /// Without a predicted vertebra within the pairing distance.
        public var missed: Int
        /// Paired vertebrae whose decided class is the true class.
        public var classCorrect: Int
        public var paired: Int { truth - missed }

        public static func == (a: Self, b: Self) -> Bool {
            (a.levelID, a.level, a.truth, a.sameLevel, a.missed, a.classCorrect) == (b.levelID, b.level, b.truth, b.sameLevel, b.missed, b.classCorrect)
                && a.confusedWith.map(\.level) == b.confusedWith.map(\.level) && a.confusedWith.map(\.count) == b.confusedWith.map(\.count)
        }
    }

    /// Cranial to caudal.
    public var levels: [Level]

    public init(subjects: [SubjectEvaluation]) {
        // By level name: missed vertebrae are listed by name only.
        var byName: [String: Level] = [:]
        var confused: [String: [String: Int]] = [:]
        func entry(_ name: String, id: Int? = nil) -> Level {
            byName[name] ?? Level(levelID: id ?? (try? VertebraLevel(name: name))?.id ?? 0, level: name, truth: 0, sameLevel: 0,
                                  confusedWith: [], missed: 0, classCorrect: 0)
        }
        for s in subjects {
            guard let c = s.classification else { continue }
            for pair in c.pairs {
                var l = entry(pair.level, id: pair.levelID)
                l.truth += 1
                if pair.predictedLevel == pair.level { l.sameLevel += 1 } else { confused[pair.level, default: [:]][pair.predictedLevel, default: 0] += 1 }
                if pair.decision == pair.trueClass { l.classCorrect += 1 }
                byName[pair.level] = l
            }
            for name in c.missed {
                var l = entry(name)
                l.truth += 1
                l.missed += 1
                byName[name] = l
            }
        }
        func order(_ name: String) -> Int { (try? VertebraLevel(name: name))?.anatomicalOrder ?? Int.max }
        levels = byName.values.map { l in
            var l = l
            l.confusedWith = (confused[l.level] ?? [:]).map { (level: $0.key, count: $0.value) }
                .sorted { ($1.count, order($0.level), $0.level) < ($0.count, order($1.level), $1.level) }
            return l
        }.sorted { (order($0.level), $0.level) < (order($1.level), $1.level) }
    }
}
