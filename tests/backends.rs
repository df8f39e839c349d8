//! Each backend's request shape (text, image) and response parsing (refusal and safety fields),
//! against loopback servers.

mod common;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use multitrust::backends::anthropic::Anthropic;
use multitrust::backends::gemini::Gemini;
use multitrust::backends::openai::OpenAi;
use multitrust::backends::{ChatModel, ChatRequest, Finish};
use multitrust::config::Profile;
use multitrust::data::image_ref;
use multitrust::sample::Message;

fn profile(spec: &str, url: &str) -> Profile {
    let mut p = Profile::shorthand(spec, Some(url)).unwrap();
    p.api_key = Some("test-key-123".into());
    p.headers = BTreeMap::from([("x-extra".to_string(), "yes".to_string())]);
    p
}

fn image_message(dir: &std::path::Path) -> (Message, Vec<u8>) {
    let path = dir.join("pic.png");
    common::png(&path, [10, 20, 30]);
    let image = image_ref(&path, "data/pic.png", &multitrust::core::ImageLimits::default()).unwrap();
    (Message::user("What is this?", Some(image)), std::fs::read(&path).unwrap())
}

async fn last_body(server: &MockServer) -> Value {
    let requests = server.received_requests().await.unwrap();
    serde_json::from_slice(&requests.last().unwrap().body).unwrap()
}

#[tokio::test]
async fn openai_text_and_image_requests_and_refusals() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer test-key-123"))
        .and(header("x-extra", "yes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"content": null}, "finish_reason": "content_filter"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 0}})))
        .mount(&server)
        .await;
    let model = OpenAi::new(&profile("openai:my-model", &format!("{}/v1", server.uri()))).unwrap();

    let text = ChatRequest::greedy(vec![Message::user("Hello", None)], 50);
    let r = model.chat(&text).await.unwrap();
    assert_eq!((r.text.as_str(), r.finish), ("", Finish::ContentFilter));
    assert_eq!(r.usage.unwrap().input, 12);
    let body = last_body(&server).await;
    assert_eq!(body["model"], "my-model");
    assert_eq!(body["messages"][0], json!({"role": "user", "content": "Hello"}));
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(body["temperature"], 0.0);

    let tmp = tempfile::tempdir().unwrap();
    let (message, bytes) = image_message(tmp.path());
    model.chat(&ChatRequest::greedy(vec![message], 10)).await.unwrap();
    let body = last_body(&server).await;
    let parts = body["messages"][0]["content"].as_array().unwrap();
    assert_eq!(parts[0], json!({"type": "text", "text": "What is this?"}));
    let url = parts[1]["image_url"]["url"].as_str().unwrap();
    let b64 = url.strip_prefix("data:image/png;base64,").expect("true MIME type, no space");
    assert_eq!(base64_simd::STANDARD.decode_to_vec(b64).unwrap(), bytes);
}

#[tokio::test]
async fn openai_azure_style_filter_errors_are_refusals_and_other_4xx_are_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "content_filter", "message": "The response was filtered (content_filter)"}})))
        .mount(&server)
        .await;
    let model = OpenAi::new(&profile("openai:m", &server.uri())).unwrap();
    let r = model.chat(&ChatRequest::greedy(vec![Message::user("x", None)], 5)).await.unwrap();
    assert_eq!(r.finish, Finish::ContentFilter);

    let other = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "no such model"}})),
        )
        .mount(&other)
        .await;
    let model = OpenAi::new(&profile("openai:m", &other.uri())).unwrap();
    let e = model.chat(&ChatRequest::greedy(vec![Message::user("x", None)], 5)).await.unwrap_err();
    assert!(!e.retryable());
    assert!(e.to_string().contains("no such model"), "{e}");
}

#[tokio::test]
async fn anthropic_request_shape_and_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "test-key-123"))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "content": [], "stop_reason": "refusal",
            "usage": {"input_tokens": 30, "output_tokens": 0}})))
        .mount(&server)
        .await;
    let model = Anthropic::new(&profile("anthropic:claude-x", &server.uri())).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (message, bytes) = image_message(tmp.path());
    let request = ChatRequest::greedy(vec![Message::system("Be careful."), message], 64);
    let r = model.chat(&request).await.unwrap();
    assert_eq!((r.text.as_str(), r.finish, r.finish_raw.as_deref()), ("", Finish::Refusal, Some("refusal")));
    let body = last_body(&server).await;
    assert_eq!(body["model"], "claude-x");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["system"], "Be careful.");
    let content = body["messages"][0]["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "image", "the image comes first, as the original sends it");
    assert_eq!(content[0]["source"]["media_type"], "image/png");
    let data = content[0]["source"]["data"].as_str().unwrap();
    assert_eq!(base64_simd::STANDARD.decode_to_vec(data).unwrap(), bytes);
    assert_eq!(content[1], json!({"type": "text", "text": "What is this?"}));
}

#[tokio::test]
async fn gemini_request_shape_safety_and_blocks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-x:generateContent"))
        .and(header("x-goog-api-key", "test-key-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"parts": [{"text": "partial"}]}, "finishReason": "SAFETY"}]})))
        .mount(&server)
        .await;
    let model = Gemini::new(&profile("gemini:gemini-x", &server.uri())).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (message, bytes) = image_message(tmp.path());
    let r = model.chat(&ChatRequest::greedy(vec![message], 33)).await.unwrap();
    assert_eq!((r.text.as_str(), r.finish), ("partial", Finish::Safety));
    let body = last_body(&server).await;
    let parts = body["contents"][0]["parts"].as_array().unwrap();
    assert_eq!(parts[0]["text"], "What is this?");
    assert_eq!(parts[1]["inline_data"]["mime_type"], "image/png");
    let data = parts[1]["inline_data"]["data"].as_str().unwrap();
    assert_eq!(base64_simd::STANDARD.decode_to_vec(data).unwrap(), bytes);
    assert_eq!(body["generationConfig"], json!({"temperature": 0.0, "maxOutputTokens": 33}));
    assert_eq!(body["safetySettings"].as_array().unwrap().len(), 4);

    let blocked = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})))
        .mount(&blocked)
        .await;
    let model = Gemini::new(&profile("gemini:gemini-x", &blocked.uri())).unwrap();
    let r = model.chat(&ChatRequest::greedy(vec![Message::user("x", None)], 5)).await.unwrap();
    assert_eq!((r.finish, r.finish_raw.as_deref()), (Finish::Blocked, Some("PROHIBITED_CONTENT")));
}

#[test]
fn hosted_providers_need_a_key() {
    for spec in ["openai:gpt-4o", "anthropic:claude", "gemini:g"] {
        let mut p = Profile::shorthand(spec, None).unwrap();
        p.api_key_env = Some("MULTITRUST_TEST_UNSET_KEY".into());
        let err = p.check_key().unwrap_err();
        assert!(err.to_string().contains("MULTITRUST_TEST_UNSET_KEY"), "{err}");
        p.base_url = Some("http://127.0.0.1:9/v1".into());
        assert!(p.check_key().is_ok(), "local servers need no key");
    }
}
