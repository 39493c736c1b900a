import CTorch

/// Elementwise ops with one operand.
public enum UnaryOp: Int32, Sendable {
    case neg = 0, abs, exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, relu, gelu, sign, floor, ceil, round,
         square, reciprocal, log1p, expm1, erf, isNaN, isInf, isFinite, logicalNot, silu, softplus
}

/// Elementwise ops with two operands (broadcasting).
public enum BinaryOp: Int32, Sendable {
    case add = 0, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logicalAnd, logicalOr, remainder, atan2
}

extension Tensor {
    public func apply(_ op: UnaryOp) throws -> Tensor {
        try make("\(op)", [self]) { ct_unary(op.rawValue, handle) }
    }
    public func apply(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
        try make("\(op)", [self, other]) { ct_binary(op.rawValue, handle, other.handle) }
    }
    public func apply(_ op: BinaryOp, _ scalar: Double, reversed: Bool = false) throws -> Tensor {
        try make("\(op)(scalar)", [self]) { ct_binary_scalar(op.rawValue, handle, scalar, reversed ? 1 : 0) }
    }

    public func neg() throws -> Tensor { try apply(.neg) }
    public func abs() throws -> Tensor { try apply(.abs) }
    public func exp() throws -> Tensor { try apply(.exp) }
    public func log() throws -> Tensor { try apply(.log) }
    public func sqrt() throws -> Tensor { try apply(.sqrt) }
    public func rsqrt() throws -> Tensor { try apply(.rsqrt) }
    public func sin() throws -> Tensor { try apply(.sin) }
    public func cos() throws -> Tensor { try apply(.cos) }
    public func tanh() throws -> Tensor { try apply(.tanh) }
    public func sigmoid() throws -> Tensor { try apply(.sigmoid) }
    public func relu() throws -> Tensor { try apply(.relu) }
    public func gelu() throws -> Tensor { try apply(.gelu) }
    public func silu() throws -> Tensor { try apply(.silu) }
    public func softplus() throws -> Tensor { try apply(.softplus) }
    public func sign() throws -> Tensor { try apply(.sign) }
    public func floor() throws -> Tensor { try apply(.floor) }
    public func ceil() throws -> Tensor { try apply(.ceil) }
    public func round() throws -> Tensor { try apply(.round) }
    public func square() throws -> Tensor { try apply(.square) }
    public func reciprocal() throws -> Tensor { try apply(.reciprocal) }
    public func log1p() throws -> Tensor { try apply(.log1p) }
    public func expm1() throws -> Tensor { try apply(.expm1) }
    public func erf() throws -> Tensor { try apply(.erf) }
    public func isNaN() throws -> Tensor { try apply(.isNaN) }
    public func isInf() throws -> Tensor { try apply(.isInf) }
    public func isFinite() throws -> Tensor { try apply(.isFinite) }
    public func logicalNot() throws -> Tensor { try apply(.logicalNot) }
    public func leakyReLU(slope: Double = 0.01) throws -> Tensor {
        try make("leakyReLU", [self]) { ct_leaky_relu(handle, slope) }
    }
    public func elu(alpha: Double = 1) throws -> Tensor { try make("elu", [self]) { ct_elu(handle, alpha) } }

    public func pow(_ exponent: Double) throws -> Tensor { try apply(.pow, exponent) }
    public func pow(_ exponent: Tensor) throws -> Tensor { try apply(.pow, exponent) }
    public func maximum(_ other: Tensor) throws -> Tensor { try apply(.maximum, other) }
    public func minimum(_ other: Tensor) throws -> Tensor { try apply(.minimum, other) }
    public func remainder(_ other: Tensor) throws -> Tensor { try apply(.remainder, other) }
    public func atan2(_ other: Tensor) throws -> Tensor { try apply(.atan2, other) }

    // Comparisons return bool tensors. (`==` stays identity on the class.)
    public func eq(_ other: Tensor) throws -> Tensor { try apply(.eq, other) }
    public func ne(_ other: Tensor) throws -> Tensor { try apply(.ne, other) }
    public func lt(_ other: Tensor) throws -> Tensor { try apply(.lt, other) }
    public func le(_ other: Tensor) throws -> Tensor { try apply(.le, other) }
    public func gt(_ other: Tensor) throws -> Tensor { try apply(.gt, other) }
    public func ge(_ other: Tensor) throws -> Tensor { try apply(.ge, other) }
    public func eq(_ value: Double) throws -> Tensor { try apply(.eq, value) }
    public func ne(_ value: Double) throws -> Tensor { try apply(.ne, value) }
    public func lt(_ value: Double) throws -> Tensor { try apply(.lt, value) }
    public func le(_ value: Double) throws -> Tensor { try apply(.le, value) }
    public func gt(_ value: Double) throws -> Tensor { try apply(.gt, value) }
    public func ge(_ value: Double) throws -> Tensor { try apply(.ge, value) }
    public func logicalAnd(_ other: Tensor) throws -> Tensor { try apply(.logicalAnd, other) }
    public func logicalOr(_ other: Tensor) throws -> Tensor { try apply(.logicalOr, other) }

    /// Clamps to [min, max]; either bound may be omitted.
    public func clamp(min: Double? = nil, max: Double? = nil) throws -> Tensor {
        try make("clamp", [self]) { ct_clamp(handle, min ?? 0, max ?? 0, min == nil ? 0 : 1, max == nil ? 0 : 1) }
    }

    /// Elementwise `condition ? self : other`.
    public func `where`(_ condition: Tensor, else other: Tensor) throws -> Tensor {
        try make("where", [condition, self, other]) { ct_where(condition.handle, handle, other.handle) }
    }

    // MARK: In place (for optimizers and buffers; use inside `Torch.noGrad` on parameters)

    public func add_(_ other: Tensor, alpha: Double = 1) throws {
        try status("add_", [self, other]) { ct_add_scaled_(handle, other.handle, alpha) }
    }
    public func mul_(_ other: Tensor) throws {
        try status("mul_", [self, other]) { ct_binary_(BinaryOp.mul.rawValue, handle, other.handle) }
    }
    public func apply_(_ op: BinaryOp, _ other: Tensor) throws {
        try status("\(op)_", [self, other]) { ct_binary_(op.rawValue, handle, other.handle) }
    }
    public func apply_(_ op: BinaryOp, _ scalar: Double) throws {
        try status("\(op)_(scalar)", [self]) { ct_binary_scalar_(op.rawValue, handle, scalar) }
    }
    public func mul_(_ scalar: Double) throws { try apply_(.mul, scalar) }
    /// self += value * t1 * t2
    public func addcmul_(_ t1: Tensor, _ t2: Tensor, value: Double = 1) throws {
        try status("addcmul_", [self, t1, t2]) { ct_addcmul_(handle, t1.handle, t2.handle, value) }
    }
    /// self += value * t1 / t2
    public func addcdiv_(_ t1: Tensor, _ t2: Tensor, value: Double = 1) throws {
        try status("addcdiv_", [self, t1, t2]) { ct_addcdiv_(handle, t1.handle, t2.handle, value) }
    }
}

// MARK: Operators (throwing: `try a + b * c` covers the whole expression)

public func + (a: Tensor, b: Tensor) throws -> Tensor { try a.apply(.add, b) }
public func - (a: Tensor, b: Tensor) throws -> Tensor { try a.apply(.sub, b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try a.apply(.mul, b) }
public func / (a: Tensor, b: Tensor) throws -> Tensor { try a.apply(.div, b) }
public func + (a: Tensor, b: Double) throws -> Tensor { try a.apply(.add, b) }
public func - (a: Tensor, b: Double) throws -> Tensor { try a.apply(.sub, b) }
public func * (a: Tensor, b: Double) throws -> Tensor { try a.apply(.mul, b) }
public func / (a: Tensor, b: Double) throws -> Tensor { try a.apply(.div, b) }
public func + (a: Double, b: Tensor) throws -> Tensor { try b.apply(.add, a, reversed: true) }
public func - (a: Double, b: Tensor) throws -> Tensor { try b.apply(.sub, a, reversed: true) }
public func * (a: Double, b: Tensor) throws -> Tensor { try b.apply(.mul, a, reversed: true) }
public func / (a: Double, b: Tensor) throws -> Tensor { try b.apply(.div, a, reversed: true) }
public prefix func - (a: Tensor) throws -> Tensor { try a.apply(.neg) }
