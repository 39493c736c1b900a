/// Vertebra levels as class indices for the identification head: 0 is background, 1... follow the anatomical
/// order of `VertebraLevel.anatomicalIDs` (C1 ... T12, T13, L1 ... L6, S).
public enum LevelIndex {
    /// Channels of the identification head: background plus every level.
    public static let count = VertebraLevel.anatomicalIDs.count + 1

    /// The class index of a VerSe level id (0 for background or an unknown id).
    public static func index(ofLevelID id: Int) -> Int {
        (VertebraLevel.anatomicalIDs.firstIndex(of: id)).map { $0 + 1 } ?? 0
    }

    /// The VerSe level id of a class index (nil for background).
    public static func levelID(ofIndex index: Int) -> Int? {
        index >= 1 && index <= VertebraLevel.anatomicalIDs.count ? VertebraLevel.anatomicalIDs[index - 1] : nil
    }

    /// A lookup table from VerSe level id (0...28) to class index, for mapping label volumes.
    public static let table: [Int64] = (0...28).map { Int64(index(ofLevelID: $0)) }
}
