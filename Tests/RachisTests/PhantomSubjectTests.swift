import Testing
import Rachis

struct PhantomSubjectTests {
    private func subject() -> Subject {
        var r = PhantomRecipe()
        r.shape = [6, 32, 24]
        r.spacingMM = [8, 6, 6]
        return try! PhantomGenerator(recipe: r).subject(at: 0)
    }

    @Test func validateNamesTheWrongSizedField() {
        var s = subject()
        s.structureAnnotated.removeLast()
        #expect(throws: Subject.Error.sizeMismatch(subject: s.id, field: "structureAnnotated",
                                                   expected: 6 * 32 * 24, found: 6 * 32 * 24 - 1)) {
            try s.validate()
        }
    }

    @Test func validateRejectsUnknownLevelsAndClasses() {
        var s = subject()
        s.vertebraLabels[0] = 27
        #expect(throws: Subject.Error.invalidLabel(subject: s.id, field: "vertebraLabels", value: 27)) { try s.validate() }
        s = subject()
        s.vertebrae[0].classIndex = 3
        #expect(throws: Subject.Error.self) { try s.validate() }
    }

    @Test func idsAndChannelsAreStable() {
        let s = subject()
        #expect(s.id == "phantom-00000")
        #expect(s.channelNames == ["T1", "STIR"])
        #expect(s.channel(1).count == s.geometry.voxelCount)
        #expect(s.tasks == LearningTask.allCases)
    }
}
