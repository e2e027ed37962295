/// Which part of a dataset published with a fixed train/test split to read.
public enum DatasetSplit: Sendable {
    case train, test
}
