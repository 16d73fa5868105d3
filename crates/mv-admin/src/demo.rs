//! The demo data `mv-admin seed` loads: a few people and the videos they
//! saved, in every processing state, as Mind-vault shows them.

/// The account newcomers sign in with.
pub const DEMO_EMAIL: &str = "demo@mind-vault.dev";

/// When the demo data was "saved": every date is an offset before it, so
/// every run gives the same rows (2026-11-24 18:00 UTC).
pub const SAVED_BEFORE: i64 = 1_795_543_200;

/// A person.
pub struct DemoUser {
    pub name: &'static str,
    pub email: &'static str,
    pub email_verified: bool,
    /// Days before [`SAVED_BEFORE`] the account was made.
    pub joined_days_before: i64,
}

/// Where a video ended up in the AI pipeline.
pub enum Outcome {
    Pending,
    Processing,
    Completed {
        summary: &'static str,
        key_points: &'static [&'static str],
        /// Seconds into the video and what the frame shows.
        keyframes: &'static [(i32, &'static str)],
    },
    Failed {
        error: &'static str,
    },
}

/// A video one of the people saved.
pub struct DemoVideo {
    /// The owner's email.
    pub owner: &'static str,
    pub youtube_url: &'static str,
    pub title: &'static str,
    pub channel: &'static str,
    pub description: &'static str,
    /// Seconds; `None` for a live recording.
    pub duration: Option<i32>,
    /// Hours before [`SAVED_BEFORE`] it was saved.
    pub saved_hours_before: i64,
    pub tags: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub outcome: Outcome,
}

pub const USERS: [DemoUser; 4] = [
    DemoUser {
        name: "Demo User",
        email: DEMO_EMAIL,
        email_verified: true,
        joined_days_before: 60,
    },
    DemoUser {
        name: "Ada Lovelace",
        email: "ada@mind-vault.dev",
        email_verified: true,
        joined_days_before: 45,
    },
    DemoUser {
        name: "Grace Hopper",
        email: "grace@mind-vault.dev",
        email_verified: true,
        joined_days_before: 30,
    },
    DemoUser {
        name: "Alan Turing",
        email: "alan@mind-vault.dev",
        email_verified: false,
        joined_days_before: 7,
    },
];

pub const VIDEOS: [DemoVideo; 23] = [
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=rK8vQ2mXb1s",
        title: "Rust Ownership and Borrowing, Visually Explained",
        channel: "Ferris Academy",
        description: "Ownership, moves, shared and mutable borrows, drawn as boxes and arrows.",
        duration: Some(1425),
        saved_hours_before: 2,
        tags: &["rust", "memory safety"],
        categories: &["programming"],
        outcome: Outcome::Completed {
            summary: "A visual walk through Rust's ownership model: every value has one owner, \
                      ownership moves on assignment, and borrows let code read or change a \
                      value without taking it, checked at compile time.",
            key_points: &[
                "Each value has exactly one owner; it is dropped when the owner goes out of scope.",
                "Assignment and passing by value move ownership; Copy types are duplicated instead.",
                "Many shared borrows or one mutable borrow, never both at once.",
                "Lifetimes name how long a borrow is valid; most are inferred.",
            ],
            keyframes: &[
                (
                    95,
                    "Diagram of a String's heap buffer and its owner on the stack",
                ),
                (612, "Two shared borrows pointing at one value"),
                (
                    1104,
                    "Compiler error for a mutable borrow while a shared one is alive",
                ),
            ],
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=Pq3nTz7LwQe&t=42s",
        title: "PostgreSQL Indexes: B-tree, GIN and BRIN in Practice",
        channel: "Postgres Deep Dives",
        description: "Which index type fits which query, measured with EXPLAIN ANALYZE.",
        duration: Some(2710),
        saved_hours_before: 20,
        tags: &["postgresql", "databases", "performance"],
        categories: &["programming"],
        outcome: Outcome::Completed {
            summary: "Compares PostgreSQL's main index types on real queries: B-tree for \
                      equality and ranges, GIN for arrays, jsonb and full-text search, and BRIN \
                      for huge tables whose rows arrive in order.",
            key_points: &[
                "B-tree serves equality, ranges and ORDER BY; column order in a composite index matters.",
                "GIN indexes the elements of arrays, jsonb documents and tsvectors.",
                "BRIN stores one summary per block range: tiny, and fast on naturally ordered data.",
                "Check the plan with EXPLAIN (ANALYZE, BUFFERS) before and after adding an index.",
            ],
            keyframes: &[
                (180, "B-tree pages drawn as a tree of key ranges"),
                (
                    1320,
                    "EXPLAIN ANALYZE output with a Bitmap Index Scan on a GIN index",
                ),
                (2405, "Size comparison chart: B-tree 2.1 GB, BRIN 48 kB"),
            ],
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://youtu.be/Hx7cVn2KqPa",
        title: "How Transformers Actually Work (No Math Degree Required)",
        channel: "The Curious Machine",
        description: "Attention, embeddings and why predicting the next word goes so far.",
        duration: Some(1980),
        saved_hours_before: 47,
        tags: &["ai", "machine learning"],
        categories: &["science", "programming"],
        outcome: Outcome::Completed {
            summary: "Builds a transformer from the ground up with pictures: words become \
                      vectors, attention lets each word look at the others, and stacking layers \
                      turns next-word prediction into something that looks like understanding.",
            key_points: &[
                "Tokens are mapped to embedding vectors that place similar words close together.",
                "Self-attention weighs every other token when computing each token's new vector.",
                "Positional encodings give the model word order, which attention alone lacks.",
                "Training is only next-token prediction, at very large scale.",
            ],
            keyframes: &[
                (240, "Word embeddings plotted in two dimensions"),
                (
                    905,
                    "Attention heat map over the sentence 'the cat sat on the mat'",
                ),
                (
                    1650,
                    "Stack of transformer blocks with residual connections",
                ),
            ],
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=fT4mWq9ZsLc",
        title: "The Feynman Technique: Learn Anything Faster",
        channel: "Deep Work Studio",
        description: "Explain it simply, find the gaps, go back to the source.",
        duration: Some(642),
        saved_hours_before: 70,
        tags: &["learning", "study skills"],
        categories: &["productivity"],
        outcome: Outcome::Completed {
            summary: "A four-step study method: pick a topic, explain it as if to a child, \
                      notice where the explanation breaks down, and return to the material \
                      until it doesn't.",
            key_points: &[
                "Write the explanation out; vague understanding hides in your head, not on paper.",
                "Jargon is a sign you have not understood yet.",
                "The gaps you find are the study plan.",
            ],
            keyframes: &[
                (60, "Notebook page titled 'Explain it to a 12-year-old'"),
                (330, "Gaps in an explanation circled in red"),
                (560, "Summary card with the four steps"),
            ],
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=Sd8rBq1NfYk",
        title: "Sourdough from Scratch: A Beginner's Week-by-Week Guide",
        channel: "Crumb & Crust",
        description: "From a jar of flour and water to an open crumb.",
        duration: Some(1533),
        saved_hours_before: 98,
        tags: &["baking", "fermentation"],
        categories: &["cooking"],
        outcome: Outcome::Completed {
            summary: "Follows a starter from day one to its first loaf: feeding schedule, \
                      signs it is ready, a simple 75% hydration recipe, and how to read the \
                      dough during bulk fermentation.",
            key_points: &[
                "Feed the starter 1:1:1 twice a day until it doubles reliably within 6 hours.",
                "Bulk fermentation is done by look and feel: domed, jiggly, about 50% bigger.",
                "A cold overnight proof makes the dough easier to score and deepens the flavour.",
                "Bake covered for steam, then uncovered for the crust.",
            ],
            keyframes: &[
                (120, "Starter jar with bubbles after doubling"),
                (780, "Stretch and fold in a glass bowl"),
                (1460, "Cross-section of the finished loaf"),
            ],
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://youtu.be/Zn2kRv6TwHd?si=demo",
        title: "Zone 2 Training Explained by an Exercise Physiologist",
        channel: "Endurance Lab",
        description: "What zone 2 is, how to find it and why easy miles build fitness.",
        duration: Some(1187),
        saved_hours_before: 150,
        tags: &["running", "fitness"],
        categories: &["health"],
        outcome: Outcome::Completed {
            summary: "Zone 2 is the highest effort at which lactate stays near resting levels. \
                      Training there builds mitochondria and fat oxidation with little fatigue, \
                      which is why endurance athletes spend most of their time in it.",
            key_points: &[
                "You can still hold a conversation in zone 2.",
                "A lactate meter is the most precise test; heart rate and talk test are close enough.",
                "Roughly 80% easy, 20% hard works for most recreational athletes.",
            ],
            keyframes: &[
                (75, "Lactate curve with the zone 2 range shaded"),
                (540, "Runner wearing a heart-rate strap on a treadmill"),
                (1010, "Weekly plan: four easy runs, one interval session"),
            ],
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=Ay5pLm3QxRu",
        title: "Async Rust in Depth: Futures, Pinning and Executors",
        channel: "Ferris Academy",
        description: "What .await compiles to, why Pin exists, and how an executor polls.",
        duration: Some(3604),
        saved_hours_before: 200,
        tags: &["rust", "async"],
        categories: &["programming"],
        outcome: Outcome::Completed {
            summary: "Opens up async Rust: an async fn becomes a state machine implementing \
                      Future, executors poll futures when wakers fire, and Pin keeps \
                      self-referential state machines from moving in memory.",
            key_points: &[
                "An async fn returns a future that does nothing until polled.",
                "Each .await is a point where the state machine can suspend.",
                "Pin guarantees a value will not move, which self-references need.",
                "Blocking inside a future stalls every task on that executor thread.",
            ],
            keyframes: &[
                (300, "Generated state machine enum for a small async fn"),
                (1750, "Diagram of a waker being registered and woken"),
                (3100, "Flame graph of a blocked executor thread"),
            ],
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=Dd9sKe4VbNm",
        title: "Designing Data-Intensive Applications, Chapter 5: Replication",
        channel: "Systems Reading Group",
        description: "Leaders, followers, replication lag and what to do about it.",
        duration: Some(4210),
        saved_hours_before: 1,
        tags: &["databases", "distributed systems"],
        categories: &["programming"],
        outcome: Outcome::Processing,
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=Rm6fEw2HtJq",
        title: "Why the Western Roman Empire Really Fell",
        channel: "History Unpacked",
        description: "Plague, money, migration and civil war: the slow collapse.",
        duration: Some(2245),
        saved_hours_before: 3,
        tags: &["rome"],
        categories: &["history"],
        outcome: Outcome::Processing,
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/shorts/Gt1bWx8PcRv",
        title: "Git Rebase vs Merge in 60 Seconds",
        channel: "Code in a Minute",
        description: "Two ways to bring a branch up to date, side by side.",
        duration: Some(58),
        saved_hours_before: 0,
        tags: &["git"],
        categories: &["programming"],
        outcome: Outcome::Pending,
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=Sl3pNq7YdKw",
        title: "The Science of Sleep: What Happens Every 90 Minutes",
        channel: "Neuro Notes",
        description: "Sleep cycles, deep sleep, REM and why the last hours matter.",
        duration: Some(1312),
        saved_hours_before: 5,
        tags: &["sleep", "neuroscience"],
        categories: &["health", "science"],
        outcome: Outcome::Pending,
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://m.youtube.com/watch?v=Bn4sQk2WmEx",
        title: "Building a Second Brain: Notes That Compound",
        channel: "Deep Work Studio",
        description: "Capture, organize, distill, express.",
        duration: Some(905),
        saved_hours_before: 8,
        tags: &[],
        categories: &[],
        outcome: Outcome::Pending,
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/live/Lv7mTq3RpZa",
        title: "Live: Rustaceans Community Meetup, November Edition",
        channel: "Rustaceans Live",
        description: "Lightning talks from the community, recorded live.",
        duration: None,
        saved_hours_before: 30,
        tags: &["rust", "community"],
        categories: &["programming"],
        outcome: Outcome::Failed {
            error: "Transcript unavailable: the recording has no captions and audio \
                    transcription is disabled for live streams",
        },
    },
    DemoVideo {
        owner: DEMO_EMAIL,
        youtube_url: "https://www.youtube.com/watch?v=Pv2xLa9KcUo",
        title: "Linear Algebra Review Session (Week 9)",
        channel: "Campus Lectures",
        description: "Eigenvalues, diagonalization and a worked exam problem.",
        duration: Some(3300),
        saved_hours_before: 120,
        tags: &["mathematics"],
        categories: &["science"],
        outcome: Outcome::Failed {
            error: "The video is private or was removed (YouTube answered 403 Forbidden)",
        },
    },
    // The transformer video again: people save the same videos.
    DemoVideo {
        owner: "ada@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Hx7cVn2KqPa",
        title: "How Transformers Actually Work (No Math Degree Required)",
        channel: "The Curious Machine",
        description: "Attention, embeddings and why predicting the next word goes so far.",
        duration: Some(1980),
        saved_hours_before: 26,
        tags: &["ai", "to rewatch"],
        categories: &["science"],
        outcome: Outcome::Completed {
            summary: "An intuitive tour of the transformer architecture: embeddings, \
                      self-attention, positional encodings and stacked layers, trained only to \
                      predict the next token.",
            key_points: &[
                "Attention computes a weighted mix of every token for each token.",
                "Multiple heads let the model attend to different relationships at once.",
                "Scale, not a new idea, explains most of the recent progress.",
            ],
            keyframes: &[
                (240, "Word embeddings plotted in two dimensions"),
                (1210, "Multi-head attention diagram"),
                (1890, "Loss curve falling as model size grows"),
            ],
        },
    },
    DemoVideo {
        owner: "ada@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Ae1nGq5TbWs",
        title: "Analytical Engines and the Birth of Programming",
        channel: "History Unpacked",
        description: "Babbage's machines and the first published algorithm.",
        duration: Some(1710),
        saved_hours_before: 90,
        tags: &["computing history"],
        categories: &["history", "science"],
        outcome: Outcome::Completed {
            summary: "Tells how Babbage's Analytical Engine was designed but never built, and \
                      how the notes on it described a general-purpose machine and an algorithm \
                      for Bernoulli numbers a century before electronic computers.",
            key_points: &[
                "The Analytical Engine separated the store (memory) from the mill (processor).",
                "Punched cards borrowed from the Jacquard loom supplied programs and data.",
                "The notes foresaw machines manipulating symbols, not only numbers.",
            ],
            keyframes: &[
                (210, "Drawing of the Analytical Engine's mill"),
                (830, "Jacquard loom punched cards"),
                (1500, "Table of the Bernoulli number algorithm"),
            ],
        },
    },
    DemoVideo {
        owner: "ada@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Nm8kTr2VxPf",
        title: "Newton's Method, Step by Step",
        channel: "Math Workshop",
        description: "Finding roots with tangent lines, and when it goes wrong.",
        duration: Some(840),
        saved_hours_before: 4,
        tags: &["mathematics"],
        categories: &["science"],
        outcome: Outcome::Pending,
    },
    DemoVideo {
        owner: "grace@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Cp5wRs8LqNz",
        title: "Compilers 101: From Source Code to Machine Code",
        channel: "Systems Reading Group",
        description: "Lexing, parsing, type checking, optimization and code generation.",
        duration: Some(2890),
        saved_hours_before: 60,
        tags: &["compilers"],
        categories: &["programming"],
        outcome: Outcome::Completed {
            summary: "A tour of a compiler's pipeline on a tiny language: tokens, a syntax \
                      tree, type checking, an intermediate representation, a few optimizations \
                      and finally x86-64 assembly.",
            key_points: &[
                "The front end understands the program; the back end targets a machine.",
                "An intermediate representation lets both ends change independently.",
                "Constant folding and dead code elimination are cheap, effective first passes.",
            ],
            keyframes: &[
                (150, "Source code split into tokens"),
                (1020, "Abstract syntax tree of an if statement"),
                (2600, "Generated assembly next to the source"),
            ],
        },
    },
    DemoVideo {
        owner: "grace@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Cb3lQw7ZsMd",
        title: "COBOL Still Runs the World: A Field Report",
        channel: "Legacy Systems Today",
        description: "Banks, payroll and the people who keep mainframes running.",
        duration: Some(1960),
        saved_hours_before: 10,
        tags: &["cobol", "mainframes"],
        categories: &["programming", "history"],
        outcome: Outcome::Failed {
            error: "The AI provider timed out after 120 s while summarizing the transcript",
        },
    },
    DemoVideo {
        owner: "grace@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Tr9dXb4KmQe",
        title: "Debugging Distributed Systems with Tracing",
        channel: "Observability Weekly",
        description: "Spans, context propagation and finding the slow hop.",
        duration: Some(2150),
        saved_hours_before: 2,
        tags: &["distributed systems", "observability"],
        categories: &["programming"],
        outcome: Outcome::Processing,
    },
    DemoVideo {
        owner: "alan@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Mz6bSt1RwKo",
        title: "Morphogenesis: How Zebras Get Their Stripes",
        channel: "The Curious Machine",
        description: "Reaction-diffusion patterns, from equations to animal coats.",
        duration: Some(1020),
        saved_hours_before: 40,
        tags: &["biology", "mathematics"],
        categories: &["science"],
        outcome: Outcome::Completed {
            summary: "Two chemicals that diffuse at different speeds, one activating and one \
                      inhibiting, are enough to turn a uniform tissue into spots and stripes; \
                      simulations reproduce the patterns of real animals.",
            key_points: &[
                "An activator that spreads slowly and an inhibitor that spreads fast create patterns.",
                "The shape and size of the tissue decide between spots and stripes.",
                "The model was proposed long before the molecules were found.",
            ],
            keyframes: &[
                (90, "Zebra coat close-up"),
                (480, "Simulation grid forming stripes over time"),
                (
                    900,
                    "Side by side: simulated pattern and a pufferfish's skin",
                ),
            ],
        },
    },
    DemoVideo {
        owner: "alan@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Kc2pVn5GaHt",
        title: "Cryptography Basics: From Caesar Ciphers to Public Keys",
        channel: "Math Workshop",
        description: "Substitution, one-time pads, Diffie-Hellman and RSA.",
        duration: Some(1644),
        saved_hours_before: 6,
        tags: &["cryptography"],
        categories: &["science"],
        outcome: Outcome::Pending,
    },
    DemoVideo {
        owner: "alan@mind-vault.dev",
        youtube_url: "https://www.youtube.com/watch?v=Ec4wHn7RbLs",
        title: "Enigma: How the Code Was Broken",
        channel: "History Unpacked",
        description: "Rotors, cribs and the machines built to test them.",
        duration: Some(1875),
        saved_hours_before: 50,
        tags: &["cryptography", "computing history"],
        categories: &["history"],
        outcome: Outcome::Failed {
            error: "Transcript unavailable: captions are disabled for this video",
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use db::models::parse_youtube_id;

    #[test]
    fn every_video_belongs_to_a_demo_user_and_has_a_youtube_url() {
        for video in &VIDEOS {
            assert!(
                USERS.iter().any(|user| user.email == video.owner),
                "{}",
                video.title
            );
            assert!(
                parse_youtube_id(video.youtube_url).is_ok(),
                "{}",
                video.youtube_url
            );
        }
    }

    #[test]
    fn the_demo_user_has_videos_in_every_state() {
        let mine: Vec<&DemoVideo> = VIDEOS.iter().filter(|v| v.owner == DEMO_EMAIL).collect();
        assert!(mine.iter().any(|v| matches!(v.outcome, Outcome::Pending)));
        assert!(
            mine.iter()
                .any(|v| matches!(v.outcome, Outcome::Processing))
        );
        assert!(
            mine.iter()
                .any(|v| matches!(v.outcome, Outcome::Completed { .. }))
        );
        assert!(
            mine.iter()
                .any(|v| matches!(v.outcome, Outcome::Failed { .. }))
        );
    }
}
