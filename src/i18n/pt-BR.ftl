# Português do Brasil: a língua da mesa e o padrão.
# Keys are the code's dotted keys with '.' written as '-'.

app-name = protocall

nav-skip = Ir para o conteúdo
nav-desk = Minha mesa
nav-manager = A mesa agora
nav-language = Idioma
nav-logout = Sair
nav-signed_in_as = Conectado como { $name }

login-title = Entrar
login-username = Usuário SIP
login-password = Senha
login-submit = Entrar
login-hint = Use o mesmo usuário e senha do seu softphone.
login-bad = Usuário ou senha incorretos.
login-throttled = Muitas tentativas com senha errada. Aguarde um minuto e tente de novo.
login-form_expired = O formulário de entrada expirou. Tente de novo.

error-title = Algo deu errado
error-forbidden-title = Acesso negado
error-forbidden-manager = Esta página é só para gestores e administradores.
error-forbidden-not_yours = Você só pode mexer nos seus próprios registros.
error-csrf = O formulário expirou ou não veio desta página. Volte, recarregue e tente de novo.
error-bad_form = O formulário veio incompleto ou inválido.
error-unavailable = Não foi possível concluir agora; tente de novo em instantes.
error-not_found = Não encontrado.
error-back = Voltar à minha mesa

desk-title = Minha mesa
desk-hello = Olá, { $name }

presence-title = Disponibilidade
presence-now = Agora
presence-available = Disponível
presence-dnd = Não perturbe
presence-away = Ausente
presence-in_call = Em chamada

task-title = Tarefa
task-none = Nenhuma tarefa em andamento.
task-running = Em andamento
task-since = desde { $since } ({ $elapsed })
task-stop = Parar tarefa
task-category = Categoria
task-description = Descrição (opcional)
task-start = Iniciar tarefa
task-start_hint = Iniciar uma tarefa para a que estiver em andamento.

contact-title = Registrar contato
contact-channel = Canal
contact-start = Início
contact-end = Fim
contact-time_hint = dd/mm/aaaa hh:mm, ou só hh:mm para hoje
contact-notes = Observações (opcional)
contact-submit = Registrar contato

channel-chat = Chat
channel-email = E-mail
channel-meeting = Reunião
channel-phone = Telefone
channel-other = Outro

callbacks-title = Meus retornos pendentes
callbacks-none = Nenhum retorno pendente.
callbacks-due = Prazo
callbacks-caller = Quem ligou
callbacks-reason = Motivo
callbacks-action = Ação
callbacks-done = Feito
callbacks-overdue = atrasado
callbacks-unknown_caller = número oculto

reason-busy = ocupado
reason-no_answer = não atendeu
reason-dnd = não perturbe
reason-away = ausente
reason-not_registered = telefone desconectado
reason-in_call = em outra chamada
reason-declined = recusou

flash-presence = Disponibilidade atualizada.
flash-task_started = Tarefa iniciada.
flash-task_stopped = Tarefa parada.
flash-contact_logged = Contato registrado.
flash-callback_done = Retorno marcado como feito.
flash-not_running = Nenhuma tarefa estava em andamento.
flash-overlap = O horário se sobrepõe a outro registro seu; confira início e fim.
flash-bad_time = Data ou hora inválida; use dd/mm/aaaa hh:mm (por exemplo 24/11/2026 09:30).
flash-bad_span = O fim precisa ser depois do início, em até 24 horas.
flash-invalid = Dados inválidos; confira os campos.
flash-unknown_category = Categoria desconhecida.

manager-title = A mesa agora
manager-people = Equipe
manager-consultant = Consultor
manager-state = Situação
manager-nobody = Nenhum consultor ativo.
manager-overdue = Retornos atrasados
manager-overdue_none = Nenhum retorno atrasado.
manager-report = Relatório semanal
manager-report_last = Semana passada
manager-report_this = Esta semana
manager-report_week = Semana (aaaa-Wss)
manager-report_open = Abrir relatório
manager-report_downloads = Baixar

duration-min = { $m } min
duration-h_min = { $h } h { $m } min

category-gin = GIN (gerência de incidente)
category-support-monitoring = Acompanhamento de suporte
category-consulting-maintenance = Manutenção da consultoria
category-post-consulting = Pós-consultoria
category-conference = Conferência
category-documentation = Documentação
category-review = Revisão
category-meeting = Reunião
category-video-recording = Gravação de vídeo
category-knowledge-base = Base de conhecimento
category-bug-identification = Identificação de bugs
category-request-delivery = Entrega de solicitação
category-ati = ATI
category-communicate-completion = Comunicar conclusão
category-call-back = Retorno de ligação

lang-self = Português

live-title = Chamada agora
live-no_call = Nenhuma chamada agora.
live-ringing_from = Tocando: { $who }
live-on_call_with = Em chamada com { $who }
live-running = Duração
live-waiting_for = Esperando há
live-provider = Provedor
live-person = Pessoa
live-number = Número
live-contract = Contrato de consultoria
live-contract_yes = Sim, vigente
live-contract_until = Vigente até { $date }
live-contract_no = Sem contrato de consultoria
live-contract_unknown = Número desconhecido
live-protocols = Protocolos abertos
live-no_protocols = Nenhum protocolo aberto.
live-deadline = prazo
live-late = atrasado
live-unknown = não identificado
live-anonymous = número oculto
live-state_ringing = Telefone tocando
live-state_offline = sem telefone conectado
live-with = Com quem
live-for = Há quanto tempo
live-calls_title = Chamadas tocando e aguardando
live-calls_none = Nenhuma chamada aguardando.
live-caller = Quem liga
live-waiting = Aguardando
live-at_ura = Na URA
live-ringing_at = Tocando para { $who }
live-service_level = Nível de serviço (última hora)
live-sl_target = (meta { $target } %)
live-sl_offered = { $n } chamadas oferecidas na última hora.
live-sl_none = Nenhuma chamada oferecida na última hora.

manager-late_protocols = Protocolos com prazo vencido
manager-late_protocols_none = Nenhum protocolo com prazo vencido.
manager-protocol = Protocolo
manager-provider = Provedor
manager-deadline = Prazo
manager-owner = Responsável
manager-no_owner = sem responsável

a11y-table = tabela
