//! YouTube URLs: the one place that knows their shapes.

/// Hosts that serve YouTube's pages (`youtu.be` is handled on its own).
const HOSTS: [&str; 6] = [
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
];

/// Path prefixes followed by the video id.
const ID_PATHS: [&str; 5] = ["shorts", "embed", "live", "v", "e"];

/// The 11-character video id in a YouTube URL, or why there is none.
///
/// Accepts `watch?v=`, `youtu.be/`, `shorts/`, `embed/`, `live/` and `v/`
/// links on the www., m. and music. hosts, with or without a scheme, with
/// extra query parameters and timestamps.
pub fn parse_youtube_id(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("the URL is empty".into());
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("{input:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{input:?} is not an http(s) URL"));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    let mut segments = url
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty());
    let candidate = if host == "youtu.be" || host == "www.youtu.be" {
        segments.next().map(str::to_string)
    } else if HOSTS.contains(&host) {
        match segments.next() {
            // With several `v` parameters, the first that is an id counts.
            Some("watch") => {
                let values: Vec<String> = url
                    .query_pairs()
                    .filter(|(k, _)| k == "v")
                    .map(|(_, v)| v.into_owned())
                    .collect();
                values
                    .iter()
                    .find(|v| is_video_id(v))
                    .or(values.first())
                    .cloned()
            }
            Some(prefix) if ID_PATHS.contains(&prefix) => segments.next().map(str::to_string),
            _ => None,
        }
    } else {
        return Err(format!("{input:?} is not a YouTube URL (host {host:?})"));
    };
    match candidate {
        Some(id) if is_video_id(&id) => Ok(id),
        Some(id) => Err(format!(
            "{input:?} has {id:?} where an 11-character video id (letters, digits, - and _) belongs"
        )),
        None => Err(format!("{input:?} does not name a video")),
    }
}

/// Whether `id` has the shape of a YouTube video id.
pub fn is_video_id(id: &str) -> bool {
    id.len() == 11
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_known_shape_gives_the_id() {
        let id = "dQw4w9WgXcQ";
        for url in [
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "http://youtube.com/watch?v=dQw4w9WgXcQ",
            "youtube.com/watch?v=dQw4w9WgXcQ",
            "https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=RDAMVM",
            "https://www.youtube.com/watch?feature=youtu.be&v=dQw4w9WgXcQ&t=42s",
            "https://youtu.be/dQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ?t=43",
            "https://www.youtube.com/shorts/dQw4w9WgXcQ",
            "https://www.youtube.com/embed/dQw4w9WgXcQ?start=10",
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
            "https://www.youtube.com/live/dQw4w9WgXcQ?si=abc",
            "https://www.youtube.com/v/dQw4w9WgXcQ",
            "  https://WWW.YouTube.com/watch?v=dQw4w9WgXcQ#t=1m  ",
        ] {
            assert_eq!(parse_youtube_id(url).as_deref(), Ok(id), "{url}");
        }
    }

    #[test]
    fn other_urls_are_rejected_naming_the_input() {
        for url in [
            "",
            "https://vimeo.com/123456",
            "https://www.youtube.com/watch?v=short",
            "https://www.youtube.com/watch",
            "https://www.youtube.com/channel/UC38IQsAvIsxxjztdMZQtwHA",
            "https://youtu.be/",
            "ftp://youtube.com/watch?v=dQw4w9WgXcQ",
            "https://www.youtube.com/watch?v=dQw4w9WgXc!",
            "not a url at all",
        ] {
            let err = parse_youtube_id(url).expect_err(url);
            if !url.is_empty() {
                assert!(err.contains(url.trim()), "{err} should name {url}");
            }
        }
    }

    fn video_id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_-]{11}"
    }

    proptest! {
        #[test]
        fn any_id_in_any_shape_round_trips(
            id in video_id(),
            shape in 0usize..6,
            extra in "[a-z]{1,8}=[a-z0-9]{0,8}",
        ) {
            let url = match shape {
                0 => format!("https://www.youtube.com/watch?v={id}&{extra}"),
                1 => format!("https://www.youtube.com/watch?{extra}&v={id}"),
                2 => format!("https://youtu.be/{id}?{extra}"),
                3 => format!("https://m.youtube.com/shorts/{id}"),
                4 => format!("https://music.youtube.com/embed/{id}?{extra}"),
                _ => format!("youtube.com/live/{id}"),
            };
            prop_assert_eq!(parse_youtube_id(&url), Ok(id));
        }

        #[test]
        fn arbitrary_input_never_panics(input in ".{0,80}") {
            let _ = parse_youtube_id(&input);
        }

        #[test]
        fn ids_of_the_wrong_length_are_rejected(id in "[A-Za-z0-9_-]{1,30}") {
            prop_assume!(id.len() != 11);
            let url = format!("https://www.youtube.com/watch?v={id}");
            prop_assert!(parse_youtube_id(&url).is_err());
        }
    }
}
