import Foundation
import Testing
@testable import Rachis

struct AgreementReportTests {
    @Test func aggregatesAndFitsTheSchema() throws {
        var recipe = PhantomRecipe()
        recipe.count = 2
        recipe.shape = [8, 48, 32]
        recipe.annotationModes = ["raters": 1]
        recipe.raterCount = 3
        let subjects = try PhantomGenerator(recipe: recipe).subjects().map { try SubjectAgreement($0) }
        let settings = AgreementReport.Settings(staplePrior: "raterMean", stapleGlobalPrior: nil, stapleTolerance: 1e-6, stapleMaxIterations: 200)
        let report = AgreementReport(dataset: "d.h5", classNames: recipe.classNames, settings: settings, subjects: subjects, skipped: ["x"])
        #expect(report.aggregate.subjects == 2 && report.aggregate.skipped == 1)
        // Fleiss' kappa pooled over both subjects' vertebrae.
        let pooled = FleissKappa(ratings: subjects.flatMap(\.classes.ratings))
        #expect(report.aggregate.classes.fleiss == pooled)
        #expect(report.aggregate.classes.vertebrae == subjects.map(\.classes.vertebrae).reduce(0, +))
        let body = try #require(report.aggregate.structures.first { $0.name == "vertebral body" })
        let expected = nanMean(subjects.map { $0.structures.first { $0.name == "vertebral body" }!.meanDice })
        #expect(body.meanDice == expected.mean && body.subjects == 2 && body.staplePairs == 6)

        let data = try report.encoded()
        let violations = try JSONSchema.file("agreement.schema.json").validate(try JSONValue.parse(data, source: "agreement.json"))
        #expect(violations.isEmpty, "\(violations)")
        let decoded = try JSONDecoder().decode(AgreementReport.self, from: data)
        #expect(decoded == report)
        // An empty report fits too.
        let empty = AgreementReport(dataset: "d.h5", classNames: [], settings: settings, subjects: [], skipped: ["a", "b"])
        let emptyViolations = try JSONSchema.file("agreement.schema.json").validate(try JSONValue.parse(try empty.encoded(), source: "empty"))
        #expect(emptyViolations.isEmpty)
        #expect(empty.aggregate.classes.fleiss.kappa.isNaN)
    }
}

struct SubjectAgreementTests {
    @Test func phantomRaters() throws {
        var recipe = PhantomRecipe()
        recipe.count = 1
        recipe.shape = [8, 48, 32]
        recipe.annotationModes = ["raters": 1]
        recipe.raterCount = 3
        let subject = try PhantomGenerator(recipe: recipe).subject(at: 0)
        #expect(SubjectAgreement.hasRaters(subject))
        let agreement = try SubjectAgreement(subject)
        #expect(agreement.raters == 3)
        #expect(agreement.structures.count == StructureLabel.allCases.count - 1)
        let body = try #require(agreement.structures.first { $0.label == Int(StructureLabel.vertebralBody.rawValue) })
        #expect(body.pairs.count == 3 && body.meanDice > 0.5 && body.meanDice <= 1, "\(body.meanDice)")
        let staple = try #require(body.staple)
        #expect(staple.sensitivity.count == 3 && staple.converged)
        #expect(staple.sensitivity.allSatisfy { (0...1).contains($0) } && staple.specificity.allSatisfy { $0 > 0.9 })
        #expect(!agreement.levels.isEmpty && agreement.levels.allSatisfy { $0.pairs.count == 3 })
        #expect(agreement.classes.vertebrae == subject.vertebrae.count && agreement.classes.cohen.count == 3)
        #expect(agreement.classes.fleiss.raters == 3)
        // A subject without raters has nothing to compare.
        recipe.annotationModes = ["full": 1]
        #expect(!SubjectAgreement.hasRaters(try PhantomGenerator(recipe: recipe).subject(at: 0)))
    }
}
