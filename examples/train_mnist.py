"""Train the Mozafari 2018 network on MNIST, evaluate it, save it, load it back.

    python examples/train_mnist.py --root ../shared/data --out runs/example [--preset quick]

Add --tiny for a one-minute demonstration on a few thousand images.
"""

import argparse
import os

import torch

from fastspike.api import evaluate_images, load_model, train_mnist
from fastspike.data import load_dataset


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="data", help="folder with MNIST/raw/*.gz (downloaded if missing)")
    p.add_argument("--out", default=os.path.join("runs", "example"))
    p.add_argument("--preset", default="quick")
    p.add_argument("--tiny", action="store_true", help="6000/6000/3000 samples, 2 R-STDP epochs")
    args = p.parse_args()

    extra = dict(samples=(6000, 6000, 3000), epochs=(1, 1, 2), test_samples=2000) if args.tiny else {}
    model, history = train_mnist(args.root, preset=args.preset, checkpoint_dir=args.out, **extra)
    for h in history:  # the evaluated epochs, scored on the validation split held out of the training set
        v = h["val"]
        print(
            f"{h['layer']} epoch {h['epoch']:3d}: validation correct {v['correct']:.4f} "
            f"wrong {v['wrong']:.4f} silent {v['silent']:.4f} ({h['seconds']:.1f} s)"
        )
    print(f"test accuracy of the chosen weights: {model.test_metrics['accuracy']:.4f}")

    # The chosen weights are saved in OUT/best.pt; load them and evaluate once more.
    model = load_model(os.path.join(args.out, "best.pt"))
    _, test = load_dataset("mnist", args.root)
    with torch.no_grad():
        result = evaluate_images(model, test.images, test.labels)  # encodes with the model's own encoder
    print(
        f"reloaded {args.out}/best.pt: test accuracy {result['correct']:.4f} (silent {result['silent']:.4f})"
    )


if __name__ == "__main__":
    main()
