import Testing
@testable import Rachis

struct SplittingTests {
    /// 30 subjects in three strata of 12, 12 and 6 (classes 0, 1, 2).
    static let members = (0..<30).map { Splitting.Member(id: "s\($0)", stratum: $0 < 12 ? 0 : $0 < 24 ? 1 : 2) }
    static func stratum(_ id: String) -> Int? { members.first { $0.id == id }!.stratum }

    @Test func foldsPartitionTheSubjectsAndKeepStrataBalanced() throws {
        let folds = try Splitting.folds(Self.members, k: 3, seed: 1)
        #expect(folds.map(\.name) == ["fold_0", "fold_1", "fold_2"])
        let vals = folds.map(\.val)
        #expect(Set(vals.flatMap { $0 }).count == 30 && vals.flatMap { $0 }.count == 30)
        for fold in folds {
            #expect(Set(fold.train).isDisjoint(with: fold.val) && fold.train.count + fold.val.count == 30)
            let counts = (0..<3).map { s in fold.val.filter { Self.stratum($0) == s }.count }
            #expect(counts == [4, 4, 2], "every fold holds a third of each stratum")
        }
    }

    @Test func splitsAreSeededAndDeterministic() throws {
        #expect(try Splitting.folds(Self.members, k: 5, seed: 3) == Splitting.folds(Self.members, k: 5, seed: 3))
        #expect(try Splitting.folds(Self.members, k: 5, seed: 3) != Splitting.folds(Self.members, k: 5, seed: 4))
    }

    @Test func holdoutSplitsEachStratumInProportion() throws {
        let split = try Splitting.holdout(Self.members, val: 0.2, test: 0.1, seed: 0)
        #expect(split.val.count == 6 && split.test.count == 3 && split.train.count == 21)
        #expect(Set(split.train + split.val + split.test).count == 30)
        let valStrata = (0..<3).map { s in split.val.filter { Self.stratum($0) == s }.count }
        #expect(valStrata.allSatisfy { $0 >= 1 }, "\(valStrata)")
    }

    @Test func badRequestsThrow() {
        #expect(throws: Splitting.Error.tooFewSubjects(subjects: 2, needed: 3)) { try Splitting.folds(Array(Self.members.prefix(2)), k: 3, seed: 0) }
        #expect(throws: Splitting.Error.self) { try Splitting.holdout(Self.members, val: 0.6, test: 0.5, seed: 0) }
    }

    @Test func stratumIsTheMostSevereAnnotatedClass() throws {
        let rows = try [1, 0, 2].map { VertebraRecord(level: try VertebraLevel(id: 20 + $0), centroidMM: nil, classIndex: $0 == 2 ? nil : $0, annotation: .full, cutByFieldOfView: false) }
        #expect(Splitting.stratum(of: rows) == 1)
        #expect(Splitting.stratum(of: []) == nil)
    }
}
