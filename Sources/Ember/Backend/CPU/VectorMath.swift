/// Float32 transcendental functions sixteen lanes at a time, so the elementwise kernels
/// stay vectorized where libm would be called once per element. The coefficients come
/// from scripts/fit_vector_math.py; each function is within a few ulp of libm.
enum VectorMath {
    typealias V = SIMD16<Float>

    @inline(__always)
    static func magnitude(_ x: V) -> V {
        unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: V.self)
    }

    // Only arithmetic, bit operations and `replacing(with:where:)` are used: the standard
    // library's SIMD clamped, rounded and float-to-int conversions run lane by lane.

    /// Rounds to the nearest integer (|x| < 2^22) and returns it as a float and as the bits
    /// of 2^n: adding 1.5 * 2^23 leaves the integer in the low mantissa bits.
    @inline(__always)
    static func roundedWithPowerOfTwo(_ x: V) -> (n: V, integer: SIMD16<Int32>) {
        let magic: Float = 12_582_912
        let shifted = x + magic
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        return (shifted - magic, integer)
    }

    /// 2^n for integers n in -126...127, assembled directly in the exponent field.
    @inline(__always)
    static func powerOfTwo(_ n: SIMD16<Int32>) -> V {
        unsafeBitCast((n &+ 127) &<< 23, to: V.self)
    }

    /// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, times 2^n. The
    /// power of two is applied in two halves so that n = 128 (x just below the overflow
    /// point) and n < -126 (results that underflow gradually) stay exact.
    @inline(__always)
    static func exp(_ x: V) -> V {
        var clamped = x.replacing(with: -103.97208, where: x .< -103.97208)
        clamped.replace(with: 88.72283, where: clamped .> 88.72283)
        let (n, integer) = roundedWithPowerOfTwo(clamped * 1.442695040888963)
        // ln2 split in two so that n * ln2High is exact.
        let r = clamped - n * 0.693359375 + n * 2.12194440e-4
        var p = V(repeating: 1.3933641402e-03)
        p = p * r + 8.3631755659e-03
        p = p * r + 4.1666465008e-02
        p = p * r + 1.6666577003e-01
        p = p * r + 5.0000000135e-01
        let half = integer &>> 1
        var result = (1 + r + r * r * p) * powerOfTwo(half) * powerOfTwo(integer &- half)
        result.replace(with: .infinity, where: x .> 88.72283)
        result.replace(with: 0, where: x .< -103.97208)
        result.replace(with: x, where: x .!= x)
        return result
    }

    @inline(__always)
    static func tanh(_ x: V) -> V {
        let a = magnitude(x)
        // Near 0, 1 - 2/(e^2a + 1) would lose digits: an odd polynomial instead.
        let z = a * a
        var q = V(repeating: -6.1552128121e-03)
        q = q * z + 2.1045699951e-02
        q = q * z - 5.3863921058e-02
        q = q * z + 1.3332890687e-01
        q = q * z - 3.3333331407e-01
        let small = a + a * z * q
        var result = 1 - 2 / (exp(a + a) + 1)
        result.replace(with: small, where: a .< 0.625)
        result.replace(with: -result, where: x .< 0)
        result.replace(with: x, where: x .!= x)
        return result
    }

    @inline(__always)
    static func sigmoid(_ x: V) -> V {
        // e^-|x| never overflows; for x < 0 this gives e^x / (1 + e^x), exact into the denormals.
        let e = exp(-magnitude(x))
        let positive = 1 / (1 + e)
        return positive.replacing(with: e * positive, where: x .< 0)
    }

    /// erf: x S(x^2) below 1; 1 - e^(-x^2) T(1/x) up to 4; 1 beyond (erf(4) rounds to 1).
    @inline(__always)
    static func erf(_ x: V) -> V {
        let a = magnitude(x)
        let z = a * a
        var s = V(repeating: 7.9334860598e-05)
        s = s * z - 8.0348439987e-04
        s = s * z + 5.1912180287e-03
        s = s * z - 2.6855399229e-02
        s = s * z + 1.1283625718e-01
        s = s * z - 3.7612629877e-01
        s = s * z + 1.1283791666e+00
        let small = a * s
        let u = 1 / a.replacing(with: 1, where: a .< 1)
        var t = V(repeating: 2.8223217475e-02)
        t = t * u - 1.6586221708e-01
        t = t * u + 4.0480200748e-01
        t = t * u - 4.9102227601e-01
        t = t * u + 1.9884866698e-01
        t = t * u + 2.5239911722e-01
        t = t * u - 3.8380051461e-01
        t = t * u + 2.2321134454e-02
        t = t * u + 5.6154093274e-01
        t = t * u + 1.3351183096e-04
        var result = 1 - exp(-z) * t
        result.replace(with: small, where: a .< 1)
        result.replace(with: 1, where: a .>= 4)
        result.replace(with: -result, where: x .< 0)
        result.replace(with: x, where: x .!= x)
        return result
    }

    /// GELU, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, in one pass.
    @inline(__always)
    static func gelu(_ x: V) -> V {
        0.5 * x * (1 + erf(x * 0.70710678118654752))
    }

    /// Applies `f` to n contiguous floats, sixteen at a time; the tail goes through the same
    /// function in a padded vector so every element gets identical arithmetic.
    @inline(__always)
    static func map(_ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, _ n: Int, _ f: (V) -> V) {
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(source + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(target + i).storeBytes(of: f(v), as: V.self)
            i += 16
        }
        if i < n {
            var v = V(repeating: 0)
            for k in 0..<(n - i) { v[k] = source[i + k] }
            let r = f(v)
            for k in 0..<(n - i) { target[i + k] = r[k] }
        }
    }
}
