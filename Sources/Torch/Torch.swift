public enum TorchLibrary {}
