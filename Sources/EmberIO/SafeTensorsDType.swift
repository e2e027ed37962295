import Ember

/// The element types a safetensors header may declare, in the Rust crate's `Dtype` order:
/// its writer stores tensors by this order, descending, then by name, which keeps every
/// tensor's data aligned to its element size. We write in the same order.
enum SafeTensorsDType: String, CaseIterable, Comparable {
    case bool = "BOOL", f4 = "F4", f6E2M3 = "F6_E2M3", f6E3M2 = "F6_E3M2", u8 = "U8", i8 = "I8"
    case f8E5M2 = "F8_E5M2", f8E4M3 = "F8_E4M3", f8E8M0 = "F8_E8M0", f8E4M3FNUZ = "F8_E4M3FNUZ", f8E5M2FNUZ = "F8_E5M2FNUZ"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16", i32 = "I32", u32 = "U32", f32 = "F32", c64 = "C64"
    case f64 = "F64", i64 = "I64", u64 = "U64"

    /// Sub-byte types (F4, F6) exist, so sizes are in bits, as in the Rust crate.
    var bitSize: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// The Ember dtype a tensor of this type loads as. Narrow integers widen to the smallest
    /// Ember integer type holding all their values (U8, I8, I16, U16 to int32; U32 to int64),
    /// so loading never loses a value. Nil for types Ember cannot hold exactly (U64, the
    /// 4-, 6- and 8-bit floats, complex): loading such a tensor throws.
    var loadedDType: DType? {
        switch self {
        case .bool: return .bool
        case .u8, .i8, .i16, .u16, .i32: return .int32
        case .u32, .i64: return .int64
        case .f16: return .float16
        case .bf16: return .bfloat16
        case .f32: return .float32
        case .f64: return .float64
        case .f4, .f6E2M3, .f6E3M2, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ, .c64, .u64: return nil
        }
    }

    /// The code an Ember dtype is written as.
    init(_ dtype: DType) {
        switch dtype {
        case .bool: self = .bool
        case .int32: self = .i32
        case .int64: self = .i64
        case .float16: self = .f16
        case .bfloat16: self = .bf16
        case .float32: self = .f32
        case .float64: self = .f64
        }
    }

    private var order: Int { Self.allCases.firstIndex(of: self)! }

    static func < (a: Self, b: Self) -> Bool { a.order < b.order }
}
