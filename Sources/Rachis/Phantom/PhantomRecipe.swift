import Foundation
import Yams

/// Every knob of the synthetic spine phantom. Each field has a default, so a recipe file only names
/// what it changes; a key the recipe does not know is an error. Ranges are `[low, high]`, drawn
/// uniformly per subject (or per vertebra / lesion where stated). Schema: schemas/phantom-recipe.schema.json.
public struct PhantomRecipe: Codable, Equatable, Sendable {
    public var name = "phantom"
    /// Root of every random choice; subject `k` depends only on `(seed, k)` and the other knobs.
    public var seed: UInt64 = 0
    public var count = 8
    /// Grid `[D, H, W]` (PIR: D right, sagittal slices; H inferior; W posterior).
    public var shape = [16, 64, 48]
    /// Voxel size in mm `[D, H, W]`: thick sagittal slices along D.
    public var spacingMM: [Double] = [4, 3, 3]
    /// Grids the subjects are rendered on, one drawn per subject with probability proportional to its weight (from
    /// a stream of its own, so the anatomy, scanner and annotation draws do not change): a dataset mixing spacings, as
    /// real scans come. Empty (the default): every subject on `shape` and `spacingMM`.
    public var grids: [Grid] = []
    /// Sub-samples per voxel and axis, on top of the soft (one-voxel) edges.
    public var supersampling = [1, 1, 1]
    /// Level placed near the centre of the field of view, drawn between these two (names, e.g. "T10").
    public var fovCenterLevels = ["T11", "L3"]
    /// Scale of the cervical and lumbar lordosis and thoracic kyphosis angles (per curve).
    public var curvatureScale: [Double] = [0.6, 1.4]
    /// Probability of transitional anatomy: a 13th thoracic vertebra, a 6th lumbar one, or a missing
    /// lumbar level, each a third of it.
    public var transitionalRate = 0.1
    public var posteriorElements = true
    /// Draw a pair of ribs at every thoracic vertebra (bone beside the body, labelled `rib`, cut by the field of view's
    /// sides): the cue that tells a thoracic vertebra from a lumbar one. T13 carries a rudimentary pair, a third as
    /// long, so that a 13th thoracic vertebra can be told from T12 without counting from C2.
    public var ribs = false
    /// Rician noise: standard deviation of each Gaussian component, relative to fat on T1 (about 1).
    public var noiseSigma: [Double] = [0.02, 0.05]
    /// Voxel volume (mm³) at which `noiseSigma` holds. A voxel of volume V gets `noiseSigma · sqrt(noiseVoxelMM3 / V)`:
    /// white noise of one density per unit volume, so averaging a finer rendering's voxels over one coarse voxel gives
    /// the coarse rendering's noise, and the same subject rendered at another spacing is the same acquisition on
    /// another grid (a scanner trades even more SNR for resolution: SNR ∝ voxel volume). nil: `noiseSigma` per voxel
    /// at every spacing, so finer renderings are cleaner on a common grid (docs/resampling.md).
    public var noiseVoxelMM3: Double? = nil
    /// Smooth multiplicative bias field: peak relative deviation.
    public var biasStrength = 0.2
    /// Per-subject, per-channel global intensity factor.
    public var intensityScale: [Double] = [0.8, 1.25]
    public var classNames = ["normal", "active inflammation", "structural"]
    /// Per-vertebra class probabilities (normalised), one per class name.
    public var classPrevalence: [Double] = [0.6, 0.25, 0.15]
    public var lesionsPerVertebra = [1, 3]
    public var lesionRadiusMM: [Double] = [3, 6]
    /// Lesion contrast against the marrow, 0 (invisible) to 1 (typical).
    public var lesionContrast: [Double] = [0.7, 1]
    /// A cue in the anterior soft tissue next to each vertebra, present when the vertebra is abnormal
    /// with probability `shortcutStrength` (and when normal with probability 1 − strength).
    public var shortcut = false
    public var shortcutStrength = 0.9
    /// Relative frequency of each subject annotation mode (names of `AnnotationMode`).
    public var annotationModes: [String: Double] = ["full": 1]
    /// Partial mode: probability that a vertebra, or a structure, is left unlabelled.
    public var partialFraction = 0.3
    /// Eroded, dilated and rater modes: in-plane voxels removed or added, at most.
    public var maskMarginVoxels = 1
    public var raterCount = 3
    /// Probability that a rater gives a vertebra another class.
    public var raterClassErrorRate = 0.1
    /// Probability that a rater leaves a vertebra out of their mask.
    public var raterDropout = 0.05

    public init() {}

    /// One grid a subject can be rendered on: its shape `[D, H, W]`, voxel size in mm and relative weight.
    public struct Grid: Codable, Equatable, Sendable {
        public var shape: [Int]
        public var spacingMM: [Double]
        public var weight: Double

        public init(shape: [Int], spacingMM: [Double], weight: Double = 1) {
            (self.shape, self.spacingMM, self.weight) = (shape, spacingMM, weight)
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case shape, spacingMM, weight }

        public init(from decoder: Decoder) throws {
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).sorted()
            if let unknown = keys.first(where: { !known.contains($0) }) {
                throw Error.invalidValue(key: PhantomRecipe.CodingKeys.grids.rawValue,
                                         reason: "unknown grid key '\(unknown)'; known keys: shape, spacingMM, weight")
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            shape = try c.decode([Int].self, forKey: .shape)
            spacingMM = try c.decode([Double].self, forKey: .spacingMM)
            weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? 1
        }

        /// `24x96x64 at 3.5x2x2 mm`.
        public var summary: String {
            shape.map(String.init).joined(separator: "x") + " at " + spacingMM.map { String(format: "%g", $0) }.joined(separator: "x") + " mm"
        }

        /// What is wrong with the shape or the voxel size (the recipe key it would be), nil when both are valid.
        func problem() -> (key: PhantomRecipe.CodingKeys, reason: String)? {
            if !(shape.count == 3 && shape.allSatisfy { $0 >= 4 }) { return (.shape, "expected [D, H, W] each >= 4, found \(shape)") }
            if !(spacingMM.count == 3 && spacingMM.allSatisfy { $0 > 0 && $0.isFinite }) {
                return (.spacingMM, "expected three positive voxel sizes in mm, found \(spacingMM)")
            }
            return nil
        }
    }

    /// The grids subjects may be rendered on: `grids`, or the recipe's own `shape` and `spacingMM`.
    public var renderedGrids: [Grid] { grids.isEmpty ? [Grid(shape: shape, spacingMM: spacingMM)] : grids }

    /// The recipe as subject `index` is rendered: `shape` and `spacingMM` from the grid drawn for it (itself when
    /// `grids` is empty).
    public func rendering(subject index: Int) -> PhantomRecipe {
        guard !grids.isEmpty else { return self }
        var rng = SplitMix64(seed: seed, stream: UInt64(bitPattern: Int64(index)), 4)
        let grid = grids[rng.categorical(grids.map(\.weight))]
        var recipe = self
        (recipe.shape, recipe.spacingMM, recipe.grids) = (grid.shape, grid.spacingMM, [])
        return recipe
    }

    /// The factor on `noiseSigma` at this recipe's spacing: `sqrt(noiseVoxelMM3 / voxel volume)`, 1 without a
    /// reference volume (and exactly 1 at it).
    public var noiseScale: Double {
        guard let reference = noiseVoxelMM3 else { return 1 }
        return (reference / spacingMM.reduce(1, *)).squareRoot()
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, count, shape, spacingMM, grids, supersampling, fovCenterLevels, curvatureScale,
             transitionalRate, posteriorElements, ribs, noiseSigma, noiseVoxelMM3, biasStrength, intensityScale, classNames,
             classPrevalence, lesionsPerVertebra, lesionRadiusMM, lesionContrast, shortcut, shortcutStrength,
             annotationModes, partialFraction, maskMarginVoxels, raterCount, raterClassErrorRate, raterDropout
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unknownKey(String, file: String?)
        case invalidValue(key: String, reason: String)
        case unreadable(file: String, reason: String)

        public var description: String {
            switch self {
            case let .unknownKey(key, file):
                "\(file.map { "\($0): " } ?? "")unknown recipe key '\(key)'; known keys: "
                    + CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")
            case let .invalidValue(key, reason): "recipe key '\(key)': \(reason)"
            case let .unreadable(file, reason): "cannot read recipe \(file): \(reason)"
            }
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).sorted()
        if let unknown = keys.first(where: { !known.contains($0) }) { throw Error.unknownKey(unknown, file: nil) }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.name, &name); try read(.seed, &seed); try read(.count, &count); try read(.shape, &shape)
        try read(.spacingMM, &spacingMM); try read(.grids, &grids); try read(.supersampling, &supersampling)
        try read(.fovCenterLevels, &fovCenterLevels); try read(.curvatureScale, &curvatureScale)
        try read(.transitionalRate, &transitionalRate); try read(.posteriorElements, &posteriorElements)
        try read(.ribs, &ribs)
        try read(.noiseSigma, &noiseSigma); try read(.biasStrength, &biasStrength)
        noiseVoxelMM3 = try c.decodeIfPresent(Double.self, forKey: .noiseVoxelMM3)
        try read(.intensityScale, &intensityScale); try read(.classNames, &classNames)
        try read(.classPrevalence, &classPrevalence); try read(.lesionsPerVertebra, &lesionsPerVertebra)
        try read(.lesionRadiusMM, &lesionRadiusMM); try read(.lesionContrast, &lesionContrast)
        try read(.shortcut, &shortcut); try read(.shortcutStrength, &shortcutStrength)
        try read(.annotationModes, &annotationModes); try read(.partialFraction, &partialFraction)
        try read(.maskMarginVoxels, &maskMarginVoxels); try read(.raterCount, &raterCount)
        try read(.raterClassErrorRate, &raterClassErrorRate); try read(.raterDropout, &raterDropout)
        try validate()
    }

    /// Decodes YAML (a JSON document is valid YAML too) and validates.
    public static func decode(yaml text: String, file: String? = nil) throws(Error) -> PhantomRecipe {
        do {
            return try YAMLDecoder().decode(PhantomRecipe.self, from: text)
        } catch {
            throw recipeError(error, file: file ?? "<text>")
        }
    }

    /// Decodes JSON with Foundation's decoder and validates.
    public static func decode(json data: Data, file: String? = nil) throws(Error) -> PhantomRecipe {
        do {
            return try JSONDecoder().decode(PhantomRecipe.self, from: data)
        } catch {
            throw recipeError(error, file: file ?? "<data>")
        }
    }

    /// Our own error, however deep the decoder wrapped it, with the file named; else an unreadable file.
    private static func recipeError(_ error: Swift.Error, file: String) -> Error {
        var current: Swift.Error? = error
        while let e = current {
            if case .unknownKey(let key, _)? = e as? Error { return .unknownKey(key, file: file) }
            if let ours = e as? Error { return ours }
            guard case .dataCorrupted(let context)? = e as? DecodingError else { break }
            current = context.underlyingError
        }
        return .unreadable(file: file, reason: String(describing: error))
    }

    /// Loads a `.json` file as JSON, anything else as YAML.
    public static func load(contentsOf url: URL) throws(Error) -> PhantomRecipe {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw .unreadable(file: url.path, reason: error.localizedDescription)
        }
        if url.pathExtension.lowercased() == "json" { return try decode(json: data, file: url.path) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .unreadable(file: url.path, reason: "not UTF-8 text")
        }
        return try decode(yaml: text, file: url.path)
    }

    /// Checks every knob's range; the error names the key and says what is allowed.
    public func validate() throws(Error) {
        func check(_ ok: Bool, _ key: CodingKeys, _ reason: String) throws(Error) {
            if !ok { throw .invalidValue(key: key.rawValue, reason: reason) }
        }
        func range(_ r: [Double], _ key: CodingKeys, min: Double = 0, max: Double = .infinity) throws(Error) {
            try check(r.count == 2 && r[0] <= r[1] && r[0] >= min && r[1] <= max, key,
                      "expected [low, high] with \(min) <= low <= high <= \(max), found \(r)")
        }
        func probability(_ p: Double, _ key: CodingKeys) throws(Error) {
            try check((0...1).contains(p), key, "expected a probability in [0, 1], found \(p)")
        }
        try check(count >= 0, .count, "expected a count >= 0, found \(count)")
        if let problem = Grid(shape: shape, spacingMM: spacingMM).problem() { throw .invalidValue(key: problem.key.rawValue, reason: problem.reason) }
        for (k, grid) in grids.enumerated() {
            if let problem = grid.problem() {
                throw .invalidValue(key: CodingKeys.grids.rawValue, reason: "grid \(k): \(problem.key.rawValue) \(problem.reason)")
            }
            try check(grid.weight >= 0 && grid.weight.isFinite, .grids, "grid \(k): expected a weight >= 0, found \(grid.weight)")
        }
        try check(grids.isEmpty || grids.contains { $0.weight > 0 }, .grids, "expected at least one grid with a weight above 0")
        try check(supersampling.count == 3 && supersampling.allSatisfy { (1...8).contains($0) }, .supersampling,
                  "expected three factors in 1...8, found \(supersampling)")
        try check(fovCenterLevels.count == 2, .fovCenterLevels, "expected two level names, found \(fovCenterLevels)")
        for name in fovCenterLevels {
            do { _ = try VertebraLevel(name: name) } catch {
                throw .invalidValue(key: CodingKeys.fovCenterLevels.rawValue, reason: error.description)
            }
        }
        try range(curvatureScale, .curvatureScale, max: 3)
        try probability(transitionalRate, .transitionalRate)
        try range(noiseSigma, .noiseSigma, max: 1)
        if let volume = noiseVoxelMM3 {
            try check(volume.isFinite && volume > 0, .noiseVoxelMM3, "expected a voxel volume in mm³ above 0, found \(volume)")
        }
        try check((0..<1).contains(biasStrength), .biasStrength, "expected a value in [0, 1), found \(biasStrength)")
        try range(intensityScale, .intensityScale, min: 1e-6)
        try check(!classNames.isEmpty && classNames.count <= 3, .classNames,
                  "expected 1 to 3 names (normal, active inflammation, structural), found \(classNames.count)")
        try check(classPrevalence.count == classNames.count && classPrevalence.allSatisfy { $0 >= 0 }
                  && classPrevalence.reduce(0, +) > 0, .classPrevalence,
                  "expected \(classNames.count) non-negative weights (one per class name) with a positive sum")
        try check(lesionsPerVertebra.count == 2 && lesionsPerVertebra[0] >= 1
                  && lesionsPerVertebra[0] <= lesionsPerVertebra[1], .lesionsPerVertebra,
                  "expected [low, high] with 1 <= low <= high, found \(lesionsPerVertebra)")
        try range(lesionRadiusMM, .lesionRadiusMM, min: 0.5, max: 20)
        try range(lesionContrast, .lesionContrast, max: 2)
        try probability(shortcutStrength, .shortcutStrength)
        for key in annotationModes.keys.sorted() where AnnotationMode(rawValue: key) == nil {
            throw .invalidValue(key: CodingKeys.annotationModes.rawValue, reason: "unknown mode '\(key)'; modes: "
                                + AnnotationMode.allCases.map(\.rawValue).joined(separator: ", "))
        }
        try check(annotationModes.values.allSatisfy { $0 >= 0 } && annotationModes.values.reduce(0, +) > 0,
                  .annotationModes, "expected non-negative weights with a positive sum")
        try probability(partialFraction, .partialFraction)
        try check((0...8).contains(maskMarginVoxels), .maskMarginVoxels, "expected 0...8, found \(maskMarginVoxels)")
        try check((1...16).contains(raterCount), .raterCount, "expected 1...16 raters, found \(raterCount)")
        try probability(raterClassErrorRate, .raterClassErrorRate)
        try probability(raterDropout, .raterDropout)
    }
}
