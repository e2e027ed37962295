/// Einstein summation (torch.einsum), lowered to diagonals (strided slices), sums, permutes,
/// reshapes and one batched matmul per pair of operands, so that autograd, jvp, vmap and
/// compile handle it through the rules of those primitives.
enum Einsum {
    /// An axis label: a letter's ASCII code, or `ellipsisBase + i` for the i-th axis (from the
    /// left) of the broadcast axes that "..." stands for.
    typealias Label = Int
    static let ellipsisBase = 1000

    /// A tensor with one label per axis.
    struct Term {
        var tensor: Tensor
        var labels: [Label]

        func axis(_ label: Label) -> Int { labels.firstIndex(of: label)! }
        func size(_ label: Label) -> Int { tensor.shape[axis(label)] }
    }

    static func fail(_ equation: String, _ problem: String) -> Never {
        fatalError("einsum(\"\(equation)\"): \(problem)")
    }

    /// The letters of one subscript and where its ellipsis stands among them, if it has one.
    static func parse(_ text: Substring, _ equation: String) -> (letters: [Label], ellipsis: Int?) {
        var letters = [Label](), ellipsis: Int?
        var rest = text
        while let c = rest.first {
            if rest.hasPrefix("...") {
                if ellipsis != nil { fail(equation, "more than one \"...\" in \"\(text)\"") }
                ellipsis = letters.count
                rest = rest.dropFirst(3)
            } else if let ascii = c.asciiValue, c.isLetter {
                letters.append(Label(ascii))
                rest = rest.dropFirst()
            } else {
                fail(equation, "invalid character \"\(c)\" in \"\(text)\" (subscripts are letters and \"...\")")
            }
        }
        return (letters, ellipsis)
    }

    static func evaluate(_ equation: String, _ operands: [Tensor]) -> Tensor {
        let sides = equation.filter { $0 != " " }.split(separator: "->", omittingEmptySubsequences: false)
        if sides.count > 2 { fail(equation, "more than one \"->\"") }
        let inputs = sides[0].split(separator: ",", omittingEmptySubsequences: false).map { parse($0, equation) }
        if inputs.count != operands.count {
            fail(equation, "the equation has subscripts for \(inputs.count) operands but \(operands.count) tensors were given")
        }

        // Label every axis; the ellipsis axes of all operands align on the right, as in broadcasting.
        let ellipsisRank = zip(inputs, operands).map { $0.ellipsis == nil ? 0 : $1.rank - $0.letters.count }.max() ?? 0
        var terms = [Term]()
        var sizes = [Label: Int]()
        for (k, (input, x)) in zip(inputs, operands).enumerated() {
            var labels = input.letters
            if let at = input.ellipsis, x.rank >= labels.count {
                let count = x.rank - labels.count
                labels.insert(contentsOf: (ellipsisRank - count..<ellipsisRank).map { ellipsisBase + $0 }, at: at)
            }
            if labels.count != x.rank {
                fail(equation, "operand \(k) has shape \(x.shape) (rank \(x.rank)) but its subscript names \(input.letters.count) axes")
            }
            for (i, (label, size)) in zip(labels, x.shape).enumerated() {
                let known = sizes[label] ?? size
                // Size-1 axes broadcast, as in PyTorch's einsum; a diagonal needs equal sizes.
                let diagonal = labels[..<i].firstIndex(of: label).map { x.shape[$0] }
                if known != size && known != 1 && size != 1 || diagonal.map({ $0 != size }) ?? false {
                    fail(equation, "index \(name(label)) has size \(known) and \(size) (operand \(k) has shape \(x.shape))")
                }
                sizes[label] = Swift.max(known, size)
            }
            terms.append(Term(tensor: x, labels: labels))
        }

        let ellipsisLabels = (0..<ellipsisRank).map { ellipsisBase + $0 }
        var output: [Label]
        if sides.count == 2 {
            let parsed = parse(sides[1], equation)
            output = parsed.letters
            if let at = parsed.ellipsis { output.insert(contentsOf: ellipsisLabels, at: at) }
            for (i, label) in parsed.letters.enumerated() {
                if parsed.letters[..<i].contains(label) { fail(equation, "output index \(name(label)) appears more than once") }
                if sizes[label] == nil { fail(equation, "output index \(name(label)) appears in no operand") }
            }
        } else {
            // Implicit output: the broadcast axes, then the letters that appear once, in alphabetical order.
            let letters = inputs.flatMap(\.letters)
            output = ellipsisLabels + Set(letters).filter { label in letters.filter { $0 == label }.count == 1 }.sorted()
        }

        for k in terms.indices {
            terms[k] = diagonals(terms[k])
            // Indices that no other operand nor the output has are summed before any product grows the tensor.
            let elsewhere = Set(output + terms.indices.filter { $0 != k }.flatMap { terms[$0].labels })
            terms[k] = summed(terms[k], keeping: elsewhere)
        }
        var result = terms[0]
        for k in terms.indices.dropFirst() {
            result = contract(result, terms[k], keeping: Set(output + terms[(k + 1)...].flatMap(\.labels)))
        }
        return result.tensor.permuted(output.map(result.axis))
    }

    static func name(_ label: Label) -> String {
        label >= ellipsisBase ? "... axis \(label - ellipsisBase)" : String(UnicodeScalar(UInt8(label)))
    }

    /// Takes the diagonal of each repeated label: moves its two axes last, merges them into
    /// one of n*n and keeps every (n+1)-th element.
    static func diagonals(_ term: Term) -> Term {
        var term = term
        while let j = term.labels.indices.first(where: { term.labels[..<$0].contains(term.labels[$0]) }) {
            let i = term.axis(term.labels[j]), n = term.tensor.shape[i]
            let rest = term.labels.indices.filter { $0 != i && $0 != j }
            let merged = term.tensor.permuted(rest + [i, j]).reshaped(to: rest.map { term.tensor.shape[$0] } + [n * n])
            term = Term(tensor: merged[TensorIndex.ellipsis, TensorIndex.stride(by: n + 1)],
                        labels: rest.map { term.labels[$0] } + [term.labels[i]])
        }
        return term
    }

    /// Sums over the labels not in `keeping`.
    static func summed(_ term: Term, keeping: Set<Label>) -> Term {
        let axes = term.labels.indices.filter { !keeping.contains(term.labels[$0]) }
        if axes.isEmpty { return term }
        return Term(tensor: term.tensor.sum(axes: axes), labels: term.labels.filter(keeping.contains))
    }

    /// One batched matmul: a as [batch..., free a, contracted], b as [batch..., contracted,
    /// free b], each group of free or contracted axes merged into one. The batch axes stay
    /// separate so that matmul broadcasts their size-1 axes.
    static func contract(_ a: Term, _ b: Term, keeping: Set<Label>) -> Term {
        var a = summed(a, keeping: keeping.union(b.labels))
        var b = summed(b, keeping: keeping.union(a.labels))
        let shared = a.labels.filter(b.labels.contains)
        let batch = shared.filter(keeping.contains), contracted = shared.filter { !keeping.contains($0) }
        let freeA = a.labels.filter { !shared.contains($0) }, freeB = b.labels.filter { !shared.contains($0) }
        // A contracted axis of size 1 on one side broadcasts against the other.
        for label in contracted where a.size(label) != b.size(label) {
            if a.size(label) == 1 {
                var shape = a.tensor.shape
                shape[a.axis(label)] = b.size(label)
                a.tensor = a.tensor.expanded(to: shape)
            } else {
                var shape = b.tensor.shape
                shape[b.axis(label)] = a.size(label)
                b.tensor = b.tensor.expanded(to: shape)
            }
        }
        func count(_ term: Term, _ labels: [Label]) -> Int { labels.reduce(1) { $0 * term.size($1) } }
        let left = a.tensor.permuted((batch + freeA + contracted).map(a.axis))
            .reshaped(to: batch.map(a.size) + [count(a, freeA), count(a, contracted)])
        let right = b.tensor.permuted((batch + contracted + freeB).map(b.axis))
            .reshaped(to: batch.map(b.size) + [count(b, contracted), count(b, freeB)])
        let product = matmul(left, right)
        return Term(tensor: product.reshaped(to: Array(product.shape[..<batch.count]) + freeA.map(a.size) + freeB.map(b.size)),
                    labels: batch + freeA + freeB)
    }
}

/// Einstein summation with PyTorch's rules: `einsum("bij,bjk->bik", a, b)` is a batched
/// matrix product. Without "->" the output holds the indices that appear once, in alphabetical
/// order; an index repeated in one operand takes a diagonal ("ii->i", "ii" the trace); "..."
/// stands for broadcast axes, placed first in an implicit output. Operands are contracted
/// pairwise from the left, each pair with one batched matmul (so with two or more operands
/// they must be floating point).
public func einsum(_ equation: String, _ operands: Tensor...) -> Tensor { Einsum.evaluate(equation, operands) }

/// `einsum` with the operands in an array.
public func einsum(_ equation: String, _ operands: [Tensor]) -> Tensor { Einsum.evaluate(equation, operands) }
