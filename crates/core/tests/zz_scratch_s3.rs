#![cfg(feature = "native")]
use std::sync::Arc;
use bytes::Bytes;
use icepipe_core::clock::SystemClock;
use icepipe_core::http::ReqwestHttpClient;
use icepipe_core::storage::s3::{S3Config, S3Store};
use icepipe_core::storage::ObjectStore;
#[tokio::test]
async fn scratch() {
    let c = S3Config { endpoint: "http://127.0.0.1:7533".into(), region: "us-east-1".into(), access_key_id: "icepipe-local".into(), secret_access_key: "icepipe-local-secret".into(), path_style: true };
    let s = S3Store::new(&c, "raw", Arc::new(ReqwestHttpClient::new()), Arc::new(SystemClock)).unwrap();
    s.put("scratch/a", Bytes::from(vec![1u8; 100])).await.unwrap();
    eprintln!("past end: {:?}", s.get_range("scratch/a", 90..200).await);
    eprintln!("start past end: {:?}", s.get_range("scratch/a", 150..200).await);
    eprintln!("pia: {:?}", s.put_if_absent("scratch/a", Bytes::new()).await);
    eprintln!("missing bucket: {:?}", S3Store::new(&c, "nobucket", Arc::new(ReqwestHttpClient::new()), Arc::new(SystemClock)).unwrap().get("x").await);
    eprintln!("missing bucket list: {:?}", S3Store::new(&c, "nobucket", Arc::new(ReqwestHttpClient::new()), Arc::new(SystemClock)).unwrap().list("x").await);
    let mut bad = c.clone(); bad.secret_access_key = "nope".into();
    eprintln!("bad head: {:?}", S3Store::new(&bad, "raw", Arc::new(ReqwestHttpClient::new()), Arc::new(SystemClock)).unwrap().head("scratch/a").await);
    eprintln!("head: {:?}", s.head("scratch/a").await);
    eprintln!("list: {:?}", s.list("scratch/").await);
    eprintln!("create again: {:?}", s.create_bucket().await);
    s.delete("scratch/a").await.unwrap();
}
