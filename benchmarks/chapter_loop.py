"""The d2l chapter's training loop, written as the chapter writes it (`train_ch3`):
Gluon DataLoader over an ArrayDataset, per-batch `.asscalar()` to accumulate metrics,
an un-hybridized Sequential, test accuracy evaluated batch by batch every epoch.

It is the baseline the benchmark measures our trainer against; it is not used by
the product.
"""

from __future__ import annotations

import time

from softmax_exp.mxnet_compat import load_mxnet


def chapter_train(dataset, epochs: int = 10, batch_size: int = 256, lr: float = 0.1):
    mx = load_mxnet()
    autograd, gluon, init, nn = mx.autograd, mx.gluon, mx.init, mx.gluon.nn

    def to_tensor(images):  # what ToTensor does to a 28x28 uint8 image, done up front
        return mx.nd.array(images.reshape(-1, 1, 28, 28).astype("float32") / 255)

    train = gluon.data.ArrayDataset(
        to_tensor(dataset.train_images), mx.nd.array(dataset.train_labels.astype("float32"))
    )
    test = gluon.data.ArrayDataset(
        to_tensor(dataset.test_images), mx.nd.array(dataset.test_labels.astype("float32"))
    )
    train_iter = gluon.data.DataLoader(train, batch_size, shuffle=True)
    test_iter = gluon.data.DataLoader(test, batch_size, shuffle=False)

    mx.random.seed(0)
    net = nn.Sequential()
    net.add(nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})

    def evaluate_accuracy(data_iter):
        acc_sum, n = 0.0, 0
        for X, y in data_iter:
            acc_sum += (net(X).argmax(axis=1) == y).sum().asscalar()
            n += y.size
        return acc_sum / n

    started = time.perf_counter()
    history = []
    for epoch in range(epochs):
        train_l_sum, train_acc_sum, n = 0.0, 0.0, 0
        for X, y in train_iter:
            with autograd.record():
                y_hat = net(X)
                l_ = loss(y_hat, y).sum()
            l_.backward()
            trainer.step(batch_size)
            train_l_sum += l_.asscalar()
            train_acc_sum += (y_hat.argmax(axis=1) == y).sum().asscalar()
            n += y.size
        test_acc = evaluate_accuracy(test_iter)
        history.append((epoch + 1, train_l_sum / n, train_acc_sum / n, test_acc))
    return time.perf_counter() - started, history
