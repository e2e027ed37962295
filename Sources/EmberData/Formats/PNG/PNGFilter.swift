/// PNG's five row filters: each byte is stored as its difference from a prediction made from
/// the byte one pixel to the left (a), the byte above (b) and the byte above-left (c), all
/// taken as 0 outside the image (left of the row, above the first row of a pass).
enum PNGFilter: UInt8, CaseIterable {
    case none = 0, sub = 1, up = 2, average = 3, paeth = 4

    /// Undoes the filter on `row` in place. `previous` is the row above, already unfiltered
    /// (zeros for a pass's first row); `stride` is the filter's look-back in bytes.
    func unfilter(_ row: UnsafeMutablePointer<UInt8>, previous: UnsafePointer<UInt8>, count: Int, stride: Int) {
        switch self {
        case .none:
            return
        case .sub:
            guard count > stride else { return }
            for i in stride..<count { row[i] &+= row[i - stride] }
        case .up:
            for i in 0..<count { row[i] &+= previous[i] }
        case .average:
            for i in 0..<count {
                let left = i >= stride ? Int(row[i - stride]) : 0
                row[i] &+= UInt8((left + Int(previous[i])) >> 1)
            }
        case .paeth:
            for i in 0..<count {
                let left = i >= stride ? row[i - stride] : 0, upperLeft = i >= stride ? previous[i - stride] : 0
                row[i] &+= Self.paethPredictor(left, previous[i], upperLeft)
            }
        }
    }

    /// Writes `row` filtered to `output`; `previous` is the (unfiltered) row above.
    func filter(_ row: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>, count: Int, stride: Int, into output: UnsafeMutablePointer<UInt8>) {
        for i in 0..<count {
            let left = i >= stride ? row[i - stride] : 0, upperLeft = i >= stride ? previous[i - stride] : 0
            let prediction: UInt8
            switch self {
            case .none: prediction = 0
            case .sub: prediction = left
            case .up: prediction = previous[i]
            case .average: prediction = UInt8((Int(left) + Int(previous[i])) >> 1)
            case .paeth: prediction = Self.paethPredictor(left, previous[i], upperLeft)
            }
            output[i] = row[i] &- prediction
        }
    }

    /// Whichever of a, b, c is closest to a + b - c (ties in that order).
    static func paethPredictor(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    /// The filter for one row by the specification's suggested heuristic (as libpng's and
    /// Pillow's encoders use): the smallest sum of the filtered bytes read as signed
    /// differences, which tends to compress best. The chosen row is left in `output`.
    static func filterWithBestChoice(_ row: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>, count: Int, stride: Int,
                                     scratch: UnsafeMutablePointer<UInt8>, into output: UnsafeMutablePointer<UInt8>) -> PNGFilter {
        var best = PNGFilter.none, bestSum = Int.max
        for candidate in allCases {
            candidate.filter(row, previous: previous, count: count, stride: stride, into: scratch)
            var sum = 0
            for i in 0..<count where sum < bestSum { sum += abs(Int(Int8(bitPattern: scratch[i]))) }
            if sum < bestSum {
                best = candidate
                bestSum = sum
                output.update(from: scratch, count: count)
            }
        }
        return best
    }
}
