//! Every word the console shows, one catalogue per language (Brazilian
//! Portuguese, the desk's language and the default; English on request),
//! and how a request picks its language.
//!
//! Catalogues are plain key → text tables in this one file, so a
//! translator reads a language top to bottom. A text may hold `{name}`
//! placeholders, filled by [`Lang::tf`]. The tests check that both
//! catalogues hold the same keys and that every key the console's code
//! asks for exists, so a missing translation fails the build's tests, not a
//! person at the desk.

use axum::http::{header, HeaderMap};

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    PtBr,
    En,
}

impl Lang {
    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::PtBr => "pt-BR",
            Lang::En => "en",
        }
    }

    fn catalogue(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::PtBr => PT_BR,
            Lang::En => EN,
        }
    }

    /// The text for `key`, if this catalogue has it.
    pub fn get(self, key: &str) -> Option<&'static str> {
        self.catalogue()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The text for `key`; the key itself when missing (the tests keep
    /// that from happening for keys written in the code).
    pub fn t(self, key: &'static str) -> &'static str {
        self.get(key).unwrap_or(key)
    }

    /// [`Lang::t`] with `{name}` placeholders filled in.
    pub fn tf(self, key: &'static str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// The language a request asks for with `Accept-Language`: the
    /// first of its ranges (by quality) that we speak; Portuguese when none
    /// is, or the header is absent.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let Some(value) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::PtBr;
        };
        let mut ranges: Vec<(f32, usize, &str)> = value
            .split(',')
            .take(20)
            .enumerate()
            .filter_map(|(i, part)| {
                let mut bits = part.split(';');
                let tag = bits.next()?.trim();
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, i, tag))
            })
            .collect();
        // Highest quality first; equal qualities keep the header's order.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, _, tag) in ranges {
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            match primary.as_str() {
                "pt" => return Lang::PtBr,
                "en" => return Lang::En,
                _ => {}
            }
        }
        Lang::PtBr
    }
}

/// Brazilian Portuguese: the default.
const PT_BR: &[(&str, &str)] = &[
    ("app.name", "protocall"),
    ("nav.skip", "Ir para o conteúdo"),
    ("nav.desk", "Minha mesa"),
    ("nav.manager", "A mesa agora"),
    ("nav.logout", "Sair"),
    ("nav.signed_in_as", "Conectado como {name}"),
    ("login.title", "Entrar"),
    ("login.username", "Usuário SIP"),
    ("login.password", "Senha"),
    ("login.submit", "Entrar"),
    (
        "login.hint",
        "Use o mesmo usuário e senha do seu softphone.",
    ),
    ("login.bad", "Usuário ou senha incorretos."),
    (
        "login.throttled",
        "Muitas tentativas com senha errada. Aguarde um minuto e tente de novo.",
    ),
    (
        "login.form_expired",
        "O formulário de entrada expirou. Tente de novo.",
    ),
    ("error.title", "Algo deu errado"),
    ("error.forbidden.title", "Acesso negado"),
    (
        "error.forbidden.manager",
        "Esta página é só para gestores e administradores.",
    ),
    (
        "error.forbidden.not_yours",
        "Você só pode mexer nos seus próprios registros.",
    ),
    (
        "error.csrf",
        "O formulário expirou ou não veio desta página. Volte, recarregue e tente de novo.",
    ),
    (
        "error.bad_form",
        "O formulário veio incompleto ou inválido.",
    ),
    (
        "error.unavailable",
        "Não foi possível concluir agora; tente de novo em instantes.",
    ),
    ("error.not_found", "Não encontrado."),
    ("error.back", "Voltar à minha mesa"),
    ("desk.title", "Minha mesa"),
    ("desk.hello", "Olá, {name}"),
    ("presence.title", "Disponibilidade"),
    ("presence.now", "Agora"),
    ("presence.available", "Disponível"),
    ("presence.dnd", "Não perturbe"),
    ("presence.away", "Ausente"),
    ("presence.in_call", "Em chamada"),
    ("task.title", "Tarefa"),
    ("task.none", "Nenhuma tarefa em andamento."),
    ("task.running", "Em andamento"),
    ("task.since", "desde {since} ({elapsed})"),
    ("task.stop", "Parar tarefa"),
    ("task.category", "Categoria"),
    ("task.description", "Descrição (opcional)"),
    ("task.start", "Iniciar tarefa"),
    (
        "task.start_hint",
        "Iniciar uma tarefa para a que estiver em andamento.",
    ),
    ("contact.title", "Registrar contato"),
    ("contact.channel", "Canal"),
    ("contact.start", "Início"),
    ("contact.end", "Fim"),
    (
        "contact.time_hint",
        "dd/mm/aaaa hh:mm, ou só hh:mm para hoje",
    ),
    ("contact.notes", "Observações (opcional)"),
    ("contact.submit", "Registrar contato"),
    ("channel.chat", "Chat"),
    ("channel.email", "E-mail"),
    ("channel.meeting", "Reunião"),
    ("channel.phone", "Telefone"),
    ("channel.other", "Outro"),
    ("callbacks.title", "Meus retornos pendentes"),
    ("callbacks.none", "Nenhum retorno pendente."),
    ("callbacks.due", "Prazo"),
    ("callbacks.caller", "Quem ligou"),
    ("callbacks.reason", "Motivo"),
    ("callbacks.action", "Ação"),
    ("callbacks.done", "Feito"),
    ("callbacks.overdue", "atrasado"),
    ("callbacks.unknown_caller", "número oculto"),
    ("reason.busy", "ocupado"),
    ("reason.no_answer", "não atendeu"),
    ("reason.dnd", "não perturbe"),
    ("reason.away", "ausente"),
    ("reason.not_registered", "telefone desconectado"),
    ("reason.in_call", "em outra chamada"),
    ("reason.declined", "recusou"),
    ("flash.presence", "Disponibilidade atualizada."),
    ("flash.task_started", "Tarefa iniciada."),
    ("flash.task_stopped", "Tarefa parada."),
    ("flash.contact_logged", "Contato registrado."),
    ("flash.callback_done", "Retorno marcado como feito."),
    ("flash.not_running", "Nenhuma tarefa estava em andamento."),
    (
        "flash.overlap",
        "O horário se sobrepõe a outro registro seu; confira início e fim.",
    ),
    (
        "flash.bad_time",
        "Data ou hora inválida; use dd/mm/aaaa hh:mm (por exemplo 24/11/2026 09:30).",
    ),
    (
        "flash.bad_span",
        "O fim precisa ser depois do início, em até 24 horas.",
    ),
    ("flash.invalid", "Dados inválidos; confira os campos."),
    ("flash.unknown_category", "Categoria desconhecida."),
    ("manager.title", "A mesa agora"),
    ("manager.people", "Equipe"),
    ("manager.consultant", "Consultor"),
    ("manager.state", "Situação"),
    ("manager.nobody", "Nenhum consultor ativo."),
    ("manager.overdue", "Retornos atrasados"),
    ("manager.overdue_none", "Nenhum retorno atrasado."),
    ("manager.report", "Relatório semanal"),
    ("manager.report_last", "Semana passada"),
    ("manager.report_this", "Esta semana"),
    ("manager.report_week", "Semana (aaaa-Wss)"),
    ("manager.report_open", "Abrir relatório"),
    ("manager.report_downloads", "Baixar"),
    ("duration.min", "{m} min"),
    ("duration.h_min", "{h} h {m} min"),
    ("category.gin", "GIN (gerência de incidente)"),
    ("category.support-monitoring", "Acompanhamento de suporte"),
    (
        "category.consulting-maintenance",
        "Manutenção da consultoria",
    ),
    ("category.post-consulting", "Pós-consultoria"),
    ("category.conference", "Conferência"),
    ("category.documentation", "Documentação"),
    ("category.review", "Revisão"),
    ("category.meeting", "Reunião"),
    ("category.video-recording", "Gravação de vídeo"),
    ("category.knowledge-base", "Base de conhecimento"),
    ("category.bug-identification", "Identificação de bugs"),
    ("category.request-delivery", "Entrega de solicitação"),
    ("category.ati", "ATI"),
    ("category.communicate-completion", "Comunicar conclusão"),
    ("category.call-back", "Retorno de ligação"),
];

/// English: on request (`Accept-Language: en`).
const EN: &[(&str, &str)] = &[
    ("app.name", "protocall"),
    ("nav.skip", "Skip to content"),
    ("nav.desk", "My desk"),
    ("nav.manager", "The desk now"),
    ("nav.logout", "Sign out"),
    ("nav.signed_in_as", "Signed in as {name}"),
    ("login.title", "Sign in"),
    ("login.username", "SIP username"),
    ("login.password", "Password"),
    ("login.submit", "Sign in"),
    (
        "login.hint",
        "Use the same username and password as your softphone.",
    ),
    ("login.bad", "Wrong username or password."),
    (
        "login.throttled",
        "Too many wrong passwords. Wait a minute and try again.",
    ),
    ("login.form_expired", "The sign-in form expired. Try again."),
    ("error.title", "Something went wrong"),
    ("error.forbidden.title", "Forbidden"),
    (
        "error.forbidden.manager",
        "This page is for managers and admins only.",
    ),
    (
        "error.forbidden.not_yours",
        "You may change only your own records.",
    ),
    (
        "error.csrf",
        "The form expired or did not come from this page. Go back, reload and try again.",
    ),
    ("error.bad_form", "The form was incomplete or invalid."),
    (
        "error.unavailable",
        "This could not be done now; try again in a moment.",
    ),
    ("error.not_found", "Not found."),
    ("error.back", "Back to my desk"),
    ("desk.title", "My desk"),
    ("desk.hello", "Hello, {name}"),
    ("presence.title", "Availability"),
    ("presence.now", "Now"),
    ("presence.available", "Available"),
    ("presence.dnd", "Do not disturb"),
    ("presence.away", "Away"),
    ("presence.in_call", "In a call"),
    ("task.title", "Task"),
    ("task.none", "No task running."),
    ("task.running", "Running"),
    ("task.since", "since {since} ({elapsed})"),
    ("task.stop", "Stop task"),
    ("task.category", "Category"),
    ("task.description", "Description (optional)"),
    ("task.start", "Start task"),
    ("task.start_hint", "Starting a task stops the running one."),
    ("contact.title", "Log a contact"),
    ("contact.channel", "Channel"),
    ("contact.start", "Start"),
    ("contact.end", "End"),
    (
        "contact.time_hint",
        "dd/mm/yyyy hh:mm, or just hh:mm for today",
    ),
    ("contact.notes", "Notes (optional)"),
    ("contact.submit", "Log contact"),
    ("channel.chat", "Chat"),
    ("channel.email", "E-mail"),
    ("channel.meeting", "Meeting"),
    ("channel.phone", "Phone"),
    ("channel.other", "Other"),
    ("callbacks.title", "My pending call-backs"),
    ("callbacks.none", "No call-back pending."),
    ("callbacks.due", "Due"),
    ("callbacks.caller", "Caller"),
    ("callbacks.reason", "Reason"),
    ("callbacks.action", "Action"),
    ("callbacks.done", "Done"),
    ("callbacks.overdue", "overdue"),
    ("callbacks.unknown_caller", "withheld number"),
    ("reason.busy", "busy"),
    ("reason.no_answer", "no answer"),
    ("reason.dnd", "do not disturb"),
    ("reason.away", "away"),
    ("reason.not_registered", "phone offline"),
    ("reason.in_call", "in another call"),
    ("reason.declined", "declined"),
    ("flash.presence", "Availability updated."),
    ("flash.task_started", "Task started."),
    ("flash.task_stopped", "Task stopped."),
    ("flash.contact_logged", "Contact logged."),
    ("flash.callback_done", "Call-back marked done."),
    ("flash.not_running", "No task was running."),
    (
        "flash.overlap",
        "The time overlaps another of your records; check start and end.",
    ),
    (
        "flash.bad_time",
        "Invalid date or time; use dd/mm/yyyy hh:mm (e.g. 24/11/2026 09:30).",
    ),
    (
        "flash.bad_span",
        "The end must come after the start, within 24 hours.",
    ),
    ("flash.invalid", "Invalid data; check the fields."),
    ("flash.unknown_category", "Unknown category."),
    ("manager.title", "The desk now"),
    ("manager.people", "Team"),
    ("manager.consultant", "Consultant"),
    ("manager.state", "State"),
    ("manager.nobody", "No active consultant."),
    ("manager.overdue", "Overdue call-backs"),
    ("manager.overdue_none", "No call-back overdue."),
    ("manager.report", "Weekly report"),
    ("manager.report_last", "Last week"),
    ("manager.report_this", "This week"),
    ("manager.report_week", "Week (yyyy-Www)"),
    ("manager.report_open", "Open report"),
    ("manager.report_downloads", "Download"),
    ("duration.min", "{m} min"),
    ("duration.h_min", "{h} h {m} min"),
    ("category.gin", "GIN (incident management)"),
    ("category.support-monitoring", "Support monitoring"),
    ("category.consulting-maintenance", "Consulting maintenance"),
    ("category.post-consulting", "Post-consulting"),
    ("category.conference", "Conference"),
    ("category.documentation", "Documentation"),
    ("category.review", "Review"),
    ("category.meeting", "Meeting"),
    ("category.video-recording", "Video recording"),
    ("category.knowledge-base", "Knowledge base"),
    ("category.bug-identification", "Bug identification"),
    ("category.request-delivery", "Request delivery"),
    ("category.ati", "ATI"),
    ("category.communicate-completion", "Communicate completion"),
    ("category.call-back", "Call-back"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(c: &[(&str, &str)]) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        for (k, v) in c {
            assert!(seen.insert(k.to_string()), "{k} is listed twice");
            assert!(!v.trim().is_empty(), "{k} is empty");
        }
        seen
    }

    #[test]
    fn both_catalogues_hold_the_same_keys() {
        let pt = keys(PT_BR);
        let en = keys(EN);
        let only_pt: Vec<_> = pt.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&pt).collect();
        assert!(
            only_pt.is_empty() && only_en.is_empty(),
            "only in pt-BR: {only_pt:?}; only in en: {only_en:?}"
        );
    }

    /// Every key the console's sources pass to `t` or `tf` as a literal
    /// is in the catalogues.
    #[test]
    fn every_key_the_code_uses_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/console");
        let pt = keys(PT_BR);
        let mut used = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for marker in [".t(\"", ".tf(\""] {
                for (i, _) in src.match_indices(marker) {
                    let rest = &src[i + marker.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    used += 1;
                    assert!(pt.contains(key), "{}: no key {key}", path.display());
                }
            }
        }
        assert!(used > 30, "the scan found only {used} keys");
    }

    #[test]
    fn accept_language_picks_english_only_when_asked() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_LANGUAGE, v.parse().unwrap());
            m
        };
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::PtBr);
        assert_eq!(Lang::from_headers(&h("en")), Lang::En);
        assert_eq!(Lang::from_headers(&h("en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::from_headers(&h("pt-BR,pt;q=0.9,en;q=0.8")),
            Lang::PtBr
        );
        assert_eq!(Lang::from_headers(&h("de, en;q=0.5")), Lang::En);
        assert_eq!(Lang::from_headers(&h("fr")), Lang::PtBr);
        assert_eq!(Lang::from_headers(&h("en;q=0.2, pt;q=0.8")), Lang::PtBr);
        assert_eq!(Lang::from_headers(&h("en;q=0")), Lang::PtBr);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(Lang::PtBr.tf("desk.hello", &[("name", "Ana")]), "Olá, Ana");
        assert_eq!(
            Lang::En.tf("duration.h_min", &[("h", "1"), ("m", "05")]),
            "1 h 05 min"
        );
    }
}
