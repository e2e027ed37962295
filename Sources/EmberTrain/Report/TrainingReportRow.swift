extension TrainingReport {
    /// One epoch's numbers; nil (or NaN) where a quantity was not measured.
    public struct Row: Equatable {
        public var epoch: Int
        public var trainLoss: Double?
        public var trainAccuracy: Double?
        public var valLoss: Double?
        public var valAccuracy: Double?
        public var learningRate: Double?
        public var seconds: Double?

        public init(epoch: Int, trainLoss: Double? = nil, trainAccuracy: Double? = nil, valLoss: Double? = nil,
                    valAccuracy: Double? = nil, learningRate: Double? = nil, seconds: Double? = nil) {
            self.epoch = epoch
            self.trainLoss = trainLoss
            self.trainAccuracy = trainAccuracy
            self.valLoss = valLoss
            self.valAccuracy = valAccuracy
            self.learningRate = learningRate
            self.seconds = seconds
        }
    }

    /// Rows from a History's `loss`, `accuracy`, `val_loss`, `val_accuracy`, `lr` and
    /// `seconds` series; History's NaN placeholders become nil. Epochs are numbered from 1,
    /// as the progress output and CSVLogger number them.
    public static func rows(from history: History) -> [Row] {
        func value(_ key: String, _ index: Int) -> Double? {
            guard let series = history[key], index < series.count, !series[index].isNaN else { return nil }
            return series[index]
        }
        return history.epochs.enumerated().map { index, epoch in
            Row(epoch: epoch + 1, trainLoss: value("loss", index), trainAccuracy: value("accuracy", index),
                valLoss: value("val_loss", index), valAccuracy: value("val_accuracy", index),
                learningRate: value("lr", index), seconds: value("seconds", index))
        }
    }
}
