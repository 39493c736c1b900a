import ArgumentParser
import Foundation
import Rachis

extension RachisCommand {
    struct SelfTest: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "selftest",
            abstract: "Train a small 3D conv net on generated volumes and check that the loss falls.",
            discussion: "Exits non-zero when the loss does not fall: the engine is not working on this machine.")

        @Option(help: "Training steps.")
        var steps = 60

        @Option(help: "Edge length of the generated cubic volumes, in voxels.")
        var size = 24

        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard steps >= 4 else { throw ValidationError("--steps must be at least 4, got \(steps).") }
            guard size >= 8 else { throw ValidationError("--size must be at least 8, got \(size).") }
        }

        func run() throws {
            try engine.apply()
            var test = EngineSelfTest()
            test.steps = steps
            test.size = size
            test.seed = engine.seed
            test.device = engine.device
            print("Training a small 3D conv net on \(size)³ volumes for \(steps) steps (\(engine.device), seed \(engine.seed))")
            let result = try test.run { step, loss in
                if step % 5 == 0 || step == steps - 1 {
                    print(String(format: "  step %3d  loss %.4f", step + 1, loss))
                }
            }
            print(String(format: "Dice on a held-out batch: %.3f before, %.3f after training (%.1f s)",
                         result.diceBefore, result.diceAfter, result.seconds))
            guard result.lossFell else {
                throw RachisCLIError.selfTestFailed("the loss did not fall (first \(result.losses.first ?? .nan), last \(result.losses.last ?? .nan))")
            }
            print("The loss fell: the engine works.")
        }
    }
}

enum RachisCLIError: Error, CustomStringConvertible {
    case selfTestFailed(String)
    var description: String {
        switch self {
        case let .selfTestFailed(message): "selftest failed: \(message)"
        }
    }
}
