import Ember
import Foundation

/// A procedurally generated image classification dataset: ten classes of anti-aliased shapes
/// (circle, square, triangle, star, cross, ring, diamond, hexagon, crescent, arrow), each drawn
/// at a random position, rotation and size, in a random colour on a random background colour,
/// with pixel noise. Every shape is scaled to the same random area and colours are drawn
/// independently of the class, so the outline is the only cue: mean brightness, colour and
/// ink area say nothing about the label, which keeps linear models well below CNNs.
///
/// Example i is generated on demand from (seed, i), so reading is thread-safe and the same
/// seed always gives the same images. Labels cycle through the classes (i % 10), so every
/// class has count / 10 examples (the first count % 10 classes one more).
public struct ShapesDataset: Dataset {
    public static let classNames = ["circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon", "crescent", "arrow"]

    public let count: Int
    public let seed: UInt64
    public let imageSize: Int

    public init(count: Int, seed: UInt64 = 0, imageSize: Int = 32) {
        precondition(count >= 0, "ShapesDataset: count cannot be negative, got \(count)")
        precondition(imageSize >= 8, "ShapesDataset: imageSize must be at least 8 pixels to draw recognizable shapes, got \(imageSize)")
        self.count = count
        self.seed = seed
        self.imageSize = imageSize
    }

    public var classNames: [String] { Self.classNames }

    public subscript(index: Int) -> (image: Image, label: Int) {
        precondition(index >= 0 && index < count, "ShapesDataset: index \(index) is out of range 0..<\(count)")
        var random = SeededRandom(Key(seed).fold(in: index))
        let label = index % Shape.allCases.count
        return (draw(Shape.allCases[label], using: &random), label)
    }

    private func draw(_ shape: Shape, using random: inout SeededRandom) -> Image {
        let size = Double(imageSize)
        // The shape covers the area of a square whose side is 25-45% of the image's.
        let side = size * random.uniform(0.25...0.45)
        let scale = side / shape.unitArea.squareRoot()
        let radius = Swift.min(scale * shape.unitRadius, size / 2)
        let centerX = random.uniform(radius...(size - radius))
        let centerY = random.uniform(radius...(size - radius))
        let angle = random.uniform(0...(2 * Double.pi))
        let (background, foreground) = Self.colors(using: &random)

        let (cosine, sine) = (cos(angle), sin(angle))
        var pixels = [UInt8](repeating: 0, count: imageSize * imageSize * 3)
        for y in 0..<imageSize {
            for x in 0..<imageSize {
                let dx = Double(x) + 0.5 - centerX, dy = Double(y) + 0.5 - centerY
                var coverage = 0.0
                // Pixels beyond the shape's reach skip the distance computation.
                if dx * dx + dy * dy <= (radius + 1) * (radius + 1) {
                    let u = (cosine * dx + sine * dy) / scale, v = (-sine * dx + cosine * dy) / scale
                    // Anti-aliasing: the coverage of a pixel straddling the edge falls off
                    // linearly with its center's signed distance (in pixels) to the outline.
                    coverage = Swift.min(Swift.max(0.5 - shape.distance(u, v) * scale, 0), 1)
                }
                for channel in 0..<3 {
                    let ink = background[channel] + coverage * (foreground[channel] - background[channel])
                    let noise = 12 * (random.uniform() + random.uniform() - 1)
                    pixels[(y * imageSize + x) * 3 + channel] = UInt8(Swift.min(Swift.max((ink + noise).rounded(), 0), 255))
                }
            }
        }
        return Image(height: imageSize, width: imageSize, channels: 3, pixels: pixels)
    }

    /// Uniform background and shape colours at least 100 apart in RGB, so every shape shows.
    private static func colors(using random: inout SeededRandom) -> (background: [Double], foreground: [Double]) {
        while true {
            let background = (0..<3).map { _ in random.uniform(0...255) }
            let foreground = (0..<3).map { _ in random.uniform(0...255) }
            let distance = zip(background, foreground).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            if distance >= 100 { return (background, foreground) }
        }
    }
}

/// The outlines, as signed distance functions in unit coordinates (negative inside).
enum Shape: CaseIterable {
    case circle, square, triangle, star, cross, ring, diamond, hexagon, crescent, arrow

    func distance(_ x: Double, _ y: Double) -> Double {
        switch self {
        case .circle: return (x * x + y * y).squareRoot() - 1
        case .ring: return abs((x * x + y * y).squareRoot() - 0.8) - 0.2
        case .crescent:
            let outer = (x * x + y * y).squareRoot() - 1
            let bite = ((x - 0.45) * (x - 0.45) + y * y).squareRoot() - 0.85
            return Swift.max(outer, -bite)
        default: return Self.polygons[self]!.distance(x, y)
        }
    }

    private static let polygons: [Shape: Polygon] = [
        .square: Polygon([(-1, -1), (1, -1), (1, 1), (-1, 1)]),
        .triangle: Polygon.regular(3),
        .star: Polygon((0..<10).map { i in
            let r = i % 2 == 0 ? 1.0 : 0.45, a = Double(i) * Double.pi / 5
            return (r * sin(a), -r * cos(a))
        }),
        .cross: Polygon([(-0.33, -1), (0.33, -1), (0.33, -0.33), (1, -0.33), (1, 0.33), (0.33, 0.33),
                         (0.33, 1), (-0.33, 1), (-0.33, 0.33), (-1, 0.33), (-1, -0.33), (-0.33, -0.33)]),
        .diamond: Polygon([(1, 0), (0, 0.55), (-1, 0), (0, -0.55)]),
        .hexagon: Polygon.regular(6),
        .arrow: Polygon([(-1, -0.25), (0.1, -0.25), (0.1, -0.6), (1, 0), (0.1, 0.6), (0.1, 0.25), (-1, 0.25)]),
    ]

    /// Area and reach of the unit shape, measured once on a fine grid.
    private static let measures: [Shape: (area: Double, radius: Double)] = {
        let n = 300, extent = 1.5, step = 2 * extent / Double(n)
        var result: [Shape: (area: Double, radius: Double)] = [:]
        for shape in allCases {
            var inside = 0, reach = 0.0
            for i in 0..<n {
                for j in 0..<n {
                    let x = -extent + (Double(i) + 0.5) * step, y = -extent + (Double(j) + 0.5) * step
                    if shape.distance(x, y) < 0 {
                        inside += 1
                        reach = Swift.max(reach, (x * x + y * y).squareRoot())
                    }
                }
            }
            result[shape] = (Double(inside) * step * step, reach + step)
        }
        return result
    }()

    var unitArea: Double { Self.measures[self]!.area }
    var unitRadius: Double { Self.measures[self]!.radius }
}

/// A closed polygon's signed distance: the distance to the nearest edge, negative inside
/// (even-odd rule).
struct Polygon {
    let vertices: [(x: Double, y: Double)]

    init(_ vertices: [(Double, Double)]) { self.vertices = vertices.map { (x: $0.0, y: $0.1) } }

    static func regular(_ sides: Int) -> Polygon {
        Polygon((0..<sides).map { i in
            let a = 2 * Double.pi * Double(i) / Double(sides)
            return (sin(a), -cos(a))
        })
    }

    func distance(_ x: Double, _ y: Double) -> Double {
        var nearest = Double.infinity
        var inside = false
        var previous = vertices[vertices.count - 1]
        for vertex in vertices {
            let ex = previous.x - vertex.x, ey = previous.y - vertex.y
            let wx = x - vertex.x, wy = y - vertex.y
            let t = Swift.min(Swift.max((wx * ex + wy * ey) / (ex * ex + ey * ey), 0), 1)
            let (px, py) = (wx - ex * t, wy - ey * t)
            nearest = Swift.min(nearest, px * px + py * py)
            if (vertex.y > y) != (previous.y > y) && x < vertex.x + (y - vertex.y) * ex / ey { inside.toggle() }
            previous = vertex
        }
        return (inside ? -1 : 1) * nearest.squareRoot()
    }
}
