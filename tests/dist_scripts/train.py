"""MPI worker: data-parallel training of a small MLP; each rank writes what it ends with.

Run by tests/test_distributed.py as ``mpiexec -n N python -m mpi4py train.py --out DIR ...``.
Each rank saves ``DIR/rank{r}.npz``: its parameters before and after the broadcast, after
training, and the DistributedDataParallel counters.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from anygrad import distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--world-size", type=int, required=True, help="the number of ranks mpiexec must start")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--samples", type=int, default=23)
    parser.add_argument("--batch-size", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--drop-last", action="store_true")
    parser.add_argument("--crash-rank", type=int, default=None, help="this rank raises at its second step")
    args = parser.parse_args()
    if args.backend == "torch":
        import torch

        torch.set_num_threads(1)  # the ranks share two cores

    dist.init()
    rank = dist.get_rank()
    if dist.get_world_size() != args.world_size:
        sys.exit(f"expected {args.world_size} ranks, got {dist.get_world_size()}: is mpiexec from the MPI "
                 "library mpi4py was built with?")

    model = common.make_model(common.INIT_SEED + rank, args.backend, args.device, args.dtype)
    before = common.parameters_as_numpy(model)
    ddp = dist.DistributedDataParallel(model)
    after_broadcast = common.parameters_as_numpy(model)

    shard = dist.shard_dataset(common.make_dataset(args.samples), drop_last=args.drop_last)
    loader = common.make_loader(shard, args.batch_size, args.shuffle, args.backend, args.device)
    optimizer = common.make_optimizer(ddp)
    steps = 0
    for _ in range(args.epochs):
        for features, labels in loader:
            optimizer.zero_grad()
            common.loss_of(ddp, features, labels, args.dtype).backward()
            if rank == args.crash_rank and steps == 1:
                raise RuntimeError(f"deliberate crash on rank {rank}")
            ddp.all_reduce_gradients()
            optimizer.step()
            steps += 1

    arrays = {f"before/{k}": v for k, v in before.items()}
    arrays.update({f"broadcast/{k}": v for k, v in after_broadcast.items()})
    arrays.update({f"final/{k}": v for k, v in common.parameters_as_numpy(model).items()})
    counters = {"steps": steps, "allreduce_steps": ddp.allreduce_steps, "collectives": ddp.collectives,
                "shard_size": len(shard), "world_size": dist.get_world_size()}
    arrays.update({f"count/{k}": np.asarray(v) for k, v in counters.items()})
    arrays["time/mean_allreduce_seconds"] = np.asarray(ddp.mean_allreduce_seconds)
    np.savez(os.path.join(args.out, f"rank{rank}.npz"), **arrays)


if __name__ == "__main__":
    main()
