//! Concurrent polling of futures that borrow the caller's data (per-server and per-frame parts
//! of one batch), without spawning tasks: spawning would need `'static` data and a copy of every
//! value, while these futures write straight from the caller's slices.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Runs every future concurrently on the current task and returns their outputs in order.
pub(crate) async fn join_all<F: Future>(mut futures: Vec<F>) -> Vec<F::Output> {
    if futures.len() == 1 {
        // One future (a batch for one server, or that fits one frame): awaited in place, without
        // the boxes and the bookkeeping below.
        let only = futures.pop().expect("one future");
        return vec![only.await];
    }
    let mut slots: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = slots.iter().map(|_| None).collect();
    let mut remaining = slots.len();
    std::future::poll_fn(|cx| {
        for (slot, out) in slots.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot
                && let Poll::Ready(v) = fut.as_mut().poll(cx)
            {
                *out = Some(v);
                *slot = None;
                remaining -= 1;
            }
        }
        if remaining == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

/// Runs every part concurrently and concatenates their outputs in input order; the first error
/// (in input order) is returned instead.
pub(crate) async fn join_concat<T, E, F>(parts: Vec<F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<Vec<T>, E>>,
{
    if parts.len() == 1 {
        let mut parts = parts;
        return parts.pop().expect("one part").await;
    }
    let mut out = Vec::new();
    for part in join_all(parts).await {
        out.extend(part?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outputs_keep_input_order_and_run_concurrently() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let waiter = async move { rx.await.unwrap() };
        let sender = async move {
            tx.send(7).unwrap();
            1
        };
        // The first future can only finish after the second ran: sequential polling would hang.
        let futs: Vec<Pin<Box<dyn Future<Output = u32>>>> =
            vec![Box::pin(waiter), Box::pin(sender)];
        assert_eq!(join_all(futs).await, vec![7, 1]);
        assert_eq!(join_all(vec![std::future::ready(3)]).await, vec![3]);
        assert_eq!(
            join_concat(vec![std::future::ready(Ok::<_, ()>(vec![1, 2]))]).await,
            Ok(vec![1, 2])
        );
        assert_eq!(
            join_concat(vec![
                std::future::ready(Ok::<_, u8>(vec![1])),
                std::future::ready(Err(9)),
            ])
            .await,
            Err(9)
        );
        assert!(
            join_all(Vec::<std::future::Ready<u8>>::new())
                .await
                .is_empty()
        );
    }
}
