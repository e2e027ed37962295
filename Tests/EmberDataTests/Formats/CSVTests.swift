import Ember
import Foundation
import XCTest
@testable import EmberData

/// CSV files in the variants found in the wild (headers or not, quoting, other delimiters,
/// CRLF, string or integer labels) and the errors that name file, line and column.
final class CSVTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
    }

    private func file(_ text: String, name: String = "data.csv") throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testClassificationWithStringLabelsByName() throws {
        let url = try file("sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n6.3,6.0,virginica\n4.9, 1.5 ,setosa\n")
        let data = try CSVClassification(contentsOf: url, label: "species")
        XCTAssertEqual(data.count, 4)
        XCTAssertEqual(data.classNames, ["setosa", "versicolor", "virginica"])
        XCTAssertEqual(data.featureNames, ["sepal", "petal"])
        XCTAssertEqual(data[2].label, 2)
        XCTAssertEqual(data[2].features.shape, [2])
        XCTAssertEqual(data[3].features.floats, [4.9, 1.5])
        XCTAssertEqual(data.standardization, Standardization.none)
    }

    func testIntegerLabelsByIndexWithoutHeaderAndOtherDelimiters() throws {
        let url = try file("3;0.5;1e3\r\n0;-2;7\r\n\r\n1;\"4\";8\r\n", name: "semicolon.csv")
        let data = try CSVClassification(contentsOf: url, label: 0, options: CSVOptions(delimiter: ";"))
        XCTAssertEqual(data.count, 3)
        XCTAssertEqual(data.classNames, ["0", "1", "2", "3"])
        XCTAssertEqual(data.featureNames, ["column 2", "column 3"])
        XCTAssertEqual((0..<3).map { data[$0].label }, [3, 0, 1])
        XCTAssertEqual(data[0].features.floats, [0.5, 1000])
        XCTAssertEqual(data[2].features.floats, [4, 8])
        let tabs = try CSVClassification(contentsOf: file("1\t2\t0\n3\t4\t1\n", name: "t.tsv"), label: 2, options: CSVOptions(delimiter: "\t"))
        XCTAssertEqual(tabs[1].features.floats, [3, 4])
    }

    /// `nameOrLast` takes the named column where the header has it, the last one otherwise.
    func testLabelByNameOrTheLastColumn() throws {
        let named = try CSVClassification(contentsOf: file("label,a,b\nx,1,2\ny,3,4\n"), label: .nameOrLast("label"))
        XCTAssertEqual(named.featureNames, ["a", "b"])
        XCTAssertEqual(named.classNames, ["x", "y"])
        let last = try CSVClassification(contentsOf: file("a,b,kind\n1,2,x\n3,4,y\n"), label: .nameOrLast("label"))
        XCTAssertEqual(last.featureNames, ["a", "b"])
        XCTAssertEqual(last.classNames, ["x", "y"])
    }

    func testQuotedFieldsFollowRFC4180() throws {
        let url = try file("\u{FEFF}\"x, first\",\"the \"\"label\"\"\"\n1,\"a, b\"\n2,\"line\nbreak\"\n3,\"a, b\"\n")
        let data = try CSVClassification(contentsOf: url, label: "the \"label\"")
        XCTAssertEqual(data.featureNames, ["x, first"])
        XCTAssertEqual(data.classNames, ["a, b", "line\nbreak"])
        XCTAssertEqual((0..<3).map { data[$0].label }, [0, 1, 0])
    }

    func testHeaderOptionsOverrideDetection() throws {
        let url = try file("1,2\n3,4\n")
        XCTAssertEqual(try CSVRegression(contentsOf: url, targets: [1]).count, 2)
        let headed = try CSVRegression(contentsOf: url, targets: ["2"], options: CSVOptions(header: .present))
        XCTAssertEqual(headed.count, 1)
        XCTAssertEqual(headed.featureNames, ["1"])
        // Without a header the first line is data, and must be numeric.
        assertThrows(try CSVRegression(contentsOf: file("a,b\n1,2\n"), targets: [1], options: CSVOptions(header: .absent)),
                     "data.csv", "line 1, column 1 (\"column 1\"): \"a\" is not a number")
    }

    func testRegressionTargetsAndStandardization() throws {
        let url = try file("x1,x2,y1,y2\n1,10,0.5,5\n2,10,1.5,6\n3,10,2.5,7\n")
        let data = try CSVRegression(contentsOf: url, targets: ["y1", 3], options: CSVOptions(standardization: .fitted))
        XCTAssertEqual(data.targetNames, ["y1", "y2"])
        XCTAssertEqual(data[1].target.floats, [1.5, 6])
        // x1 has mean 2 and std sqrt(2/3); x2 is constant, so it is only centered.
        let std = Float((2.0 / 3.0).squareRoot())
        XCTAssertEqual(data.standardization, .using(mean: [2, 10], std: [std, 1]))
        XCTAssertEqual(data[0].features.floats[0], -1 / std, accuracy: 1e-6)
        XCTAssertEqual(data[2].features.floats, [1 / std, 0])
        // A test set standardized with the training statistics.
        let test = try CSVRegression(contentsOf: file("x1,x2,y1,y2\n4,12,0,0\n", name: "test.csv"), targets: ["y1", "y2"],
                                     options: CSVOptions(standardization: data.standardization))
        XCTAssertEqual(test[0].features.floats[1], 2)
        assertThrows(try CSVRegression(contentsOf: url, targets: ["y1"], options: CSVOptions(standardization: .using(mean: [0], std: [1]))),
                     "data.csv", "1 means and 1 standard deviations for 3 feature columns")
    }

    func testErrorsNameFileLineAndColumn() throws {
        assertThrows(try CSVClassification(contentsOf: file("a,b,label\n1,2,x\n3,oops,y\n"), label: "label"),
                     "data.csv", "line 3, column 2 (\"b\"): \"oops\" is not a number")
        assertThrows(try CSVClassification(contentsOf: file("a,label\n1,x\n,y\n"), label: "label"),
                     "data.csv", "line 3, column 1 (\"a\"): the empty value (missing values are not supported) is not a number")
        assertThrows(try CSVClassification(contentsOf: file("a,b,label\n1,2,x\n3,4\n"), label: "label"),
                     "data.csv", "line 3: ragged row with 2 fields, line 1 has 3")
        assertThrows(try CSVClassification(contentsOf: file("a,b\n1,2\n"), label: "label"),
                     "data.csv", "missing column \"label\": the columns are \"a\", \"b\"")
        assertThrows(try CSVClassification(contentsOf: file("1,2\n"), label: 5), "data.csv", "missing column: index 5 is out of range, the file has 2 columns")
        assertThrows(try CSVClassification(contentsOf: file(""), label: 0), "data.csv", "the file is empty")
        assertThrows(try CSVClassification(contentsOf: file("\n\n"), label: 0), "data.csv", "the file is empty")
        assertThrows(try CSVClassification(contentsOf: file("a,label\n"), label: "label"), "data.csv", "a header and no data rows")
        assertThrows(try CSVClassification(contentsOf: file("a,label\n1,0\n2,-1\n"), label: "label"), "line 3, column 2 (\"label\"): \"-1\" is a negative label")
        // Found by fuzzing (Fuzz/Corpus/csv/huge-class-id): every id up to the largest would be a class.
        assertThrows(try CSVClassification(contentsOf: file("a,label\n1,0\n2,1333333333333\n"), label: "label"),
                     "line 3, column 2 (\"label\"): \"1333333333333\" is a class id past 1048575")
        assertThrows(try CSVClassification(contentsOf: file("a,label\n1,\"x\n2,y\n"), label: "label"), "data.csv", "line 2, column 2: the quoted field is never closed")
        assertThrows(try CSVClassification(contentsOf: file("a,label\n1,\"x\"y\n"), label: "label"), "data.csv", "line 2, column 2: unexpected text after a closing quote")
        assertThrows(try CSVClassification(contentsOf: directory.appendingPathComponent("none.csv"), label: 0), "none.csv", "no such file")
    }

    /// NaN and infinity would make the standardization, and every weight they reach, NaN.
    func testFeaturesMustBeFiniteAndPresent() throws {
        assertThrows(try CSVClassification(contentsOf: file("a,b,label\n1,2,x\nnan,3,y\n"), label: "label", options: CSVOptions(standardization: .fitted)),
                     "data.csv", "line 3, column 1 (\"a\"): \"nan\" is not a finite number")
        assertThrows(try CSVFeatures(contentsOf: file("a,b\n1,-inf\n"), columns: nil), "line 2, column 2 (\"b\"): \"-inf\" is not a finite number")
        assertThrows(try CSVClassification(contentsOf: file("a,label\n1e39,x\n"), label: "label"), "\"1e39\" is not a finite number")
        assertThrows(try CSVClassification(contentsOf: file("label\nx\ny\n"), label: "label", options: CSVOptions(header: .present)),
                     "data.csv", "has no feature columns: its only column, \"label\", is the label")
    }

    func testGivenClassNamesKeepTheTrainingFilesNumbering() throws {
        let url = try file("a,label\n1,virginica\n2,setosa\n")
        let test = try CSVClassification(contentsOf: url, label: "label",
                                         options: CSVOptions(classNames: ["setosa", "versicolor", "virginica"]))
        XCTAssertEqual(test.classNames, ["setosa", "versicolor", "virginica"])
        XCTAssertEqual([test[0].label, test[1].label], [2, 0])
        assertThrows(try CSVClassification(contentsOf: file("a,label\n1,rose\n"), label: "label", options: CSVOptions(classNames: ["setosa"])),
                     "line 2, column 2 (\"label\"): \"rose\" is not one of the 1 classes (setosa)")
    }

    func testTextClassificationReadsQuotedTextAndLabels() throws {
        let url = try file("label,text\npos,\"Great, really \"\"great\"\" film\"\nneg,dull\n")
        let data = try CSVTextClassification(contentsOf: url)
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.classNames, ["neg", "pos"])
        XCTAssertEqual(data[0].text, "Great, really \"great\" film")
        XCTAssertEqual(data[0].label, 1)
        assertThrows(try CSVTextClassification(contentsOf: file("words,label\nhi,1\n")), "missing column \"text\"")
        assertThrows(try CSVTextClassification(contentsOf: file("text\nhi\n")), "the text and the label are the same column (\"text\")")
    }

    func testFeaturesPickColumnsByNameAndStandardize() throws {
        let url = try file("label,b,a\n1,10,1\n0,20,3\n")
        let rows = try CSVFeatures(contentsOf: url, columns: ["a", "b"],
                                   options: CSVOptions(standardization: .using(mean: [2, 15], std: [1, 5])))
        XCTAssertEqual(rows.featureNames, ["a", "b"])
        XCTAssertEqual(rows[0].floats, [-1, -1])
        XCTAssertEqual(rows[1].floats, [1, 1])
        assertThrows(try CSVFeatures(contentsOf: url, columns: ["c"]), "missing column \"c\"")
    }
}
