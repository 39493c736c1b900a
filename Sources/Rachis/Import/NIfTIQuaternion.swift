/// NIfTI's qform rotation: a unit quaternion `(a, b, c, d)` with `a ≥ 0` stored as `(b, c, d)`, and `qfac`
/// (`pixdim[0]`, ±1) that flips the third axis for improper rotations (determinant −1).
enum NIfTIQuaternion {
    /// The 3x3 matrix `R · diag(1, 1, qfac)` (rows), as in the NIfTI-1 standard's `quatern_to_mat44`.
    static func rotation(b: Double, c: Double, d: Double, qfac: Double) -> [[Double]] {
        var (b, c, d) = (b, c, d)
        var a = 1 - (b * b + c * c + d * d)
        if a < 1e-7 {  // Numerically a 180° rotation: renormalise (b, c, d).
            let n = (b * b + c * c + d * d).squareRoot()
            (a, b, c, d) = (0, b / n, c / n, d / n)
        } else {
            a = a.squareRoot()
        }
        let q = qfac < 0 ? -1.0 : 1.0
        return [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c) * q],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b) * q],
            [2 * (b * d - a * c), 2 * (c * d + a * b), (a * a + d * d - c * c - b * b) * q],
        ]
    }

    /// `(b, c, d, qfac)` for an orthonormal matrix `m` (rows), proper or improper (as `mat44_to_quatern`).
    static func quaternion(of m: [[Double]]) -> (b: Double, c: Double, d: Double, qfac: Double) {
        var r = m
        let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
            - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
            + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0])
        let qfac = det < 0 ? -1.0 : 1.0
        if det < 0 { for i in 0..<3 { r[i][2] = -r[i][2] } }
        var a = r[0][0] + r[1][1] + r[2][2] + 1, b = 0.0, c = 0.0, d = 0.0
        if a > 0.5 {
            a = 0.5 * a.squareRoot()
            b = 0.25 * (r[2][1] - r[1][2]) / a
            c = 0.25 * (r[0][2] - r[2][0]) / a
            d = 0.25 * (r[1][0] - r[0][1]) / a
        } else {
            let xd = 1 + r[0][0] - (r[1][1] + r[2][2])
            let yd = 1 + r[1][1] - (r[0][0] + r[2][2])
            let zd = 1 + r[2][2] - (r[0][0] + r[1][1])
            if xd > 1 {
                b = 0.5 * xd.squareRoot()
                c = 0.25 * (r[0][1] + r[1][0]) / b
                d = 0.25 * (r[0][2] + r[2][0]) / b
                a = 0.25 * (r[2][1] - r[1][2]) / b
            } else if yd > 1 {
                c = 0.5 * yd.squareRoot()
                b = 0.25 * (r[0][1] + r[1][0]) / c
                d = 0.25 * (r[1][2] + r[2][1]) / c
                a = 0.25 * (r[0][2] - r[2][0]) / c
            } else {
                d = 0.5 * zd.squareRoot()
                b = 0.25 * (r[0][2] + r[2][0]) / d
                c = 0.25 * (r[1][2] + r[2][1]) / d
                a = 0.25 * (r[1][0] - r[0][1]) / d
            }
            if a < 0 { (b, c, d) = (-b, -c, -d) }
        }
        return (b, c, d, qfac)
    }
}
