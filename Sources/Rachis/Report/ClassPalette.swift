/// The fixed colours of class decisions in report images and legends: class `i` of a subject's `classNames` gets
/// `colours[i]` (repeating past the end); a region without a decision gets `undecided`.
public enum ClassPalette {
    public typealias RGB = (UInt8, UInt8, UInt8)

    /// Green, red, orange, purple, brown, pink, olive, teal: class 0 is usually the normal class.
    public static let colours: [RGB] = [
        (46, 180, 60), (228, 40, 40), (255, 150, 20), (150, 90, 220), (150, 90, 60), (235, 110, 200), (180, 190, 40), (20, 170, 170),
    ]
    /// Regions whose vertebra has no decision (no classification head, or a region no vertebra claims).
    public static let undecided: RGB = (40, 140, 255)

    public static func colour(decision: Int?) -> RGB {
        guard let decision, decision >= 0 else { return undecided }
        return colours[decision % colours.count]
    }
}
