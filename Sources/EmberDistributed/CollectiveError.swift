/// A collective that cannot run: the ranks disagree about it, an argument is invalid, it
/// timed out, or MPI reported an error. Thrown on the rank named by `rank`; a disagreement
/// found by the check is thrown on every rank, each naming itself.
public struct CollectiveError: Error, CustomStringConvertible, Equatable {
    /// The rank that throws.
    public var rank: Int
    /// The collective and its position in the group's sequence ("allreduce #3").
    public var collective: String
    public var problem: String

    public init(rank: Int, collective: String, problem: String) {
        self.rank = rank
        self.collective = collective
        self.problem = problem
    }

    public var description: String { "rank \(rank): \(collective): \(problem)" }
}
